"""Per-user folders (config, cache, logs) without Qt, so the CLI and the app agree."""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "LoRADesk"


def user_config_dir() -> Path:
    override = os.environ.get("LORA_DESK_CONFIG_DIR")  # the app's override too (app/settings.py): tests, portable use
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / APP


def user_presets_dir() -> Path:
    return user_config_dir() / "presets"


def user_data_dir() -> Path:
    """Where the program keeps data of its own (rescued LoRA files); LORA_DESK_DATA_DIR overrides it (tests,
    portable use)."""
    override = os.environ.get("LORA_DESK_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP
