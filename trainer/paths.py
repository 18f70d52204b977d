"""Per-user folders (config, cache, logs) without Qt, so the CLI and the app agree."""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "LoRADesk"


def _user_dir(override: str, windows_var: str, windows_default: str, xdg_var: str, xdg_default: str) -> Path:
    """The platform's per-user folder of one kind, with our APP name; the `override` variable wins."""
    if os.environ.get(override):
        return Path(os.environ[override])
    if sys.platform == "win32":
        base = Path(os.environ.get(windows_var, Path.home() / "AppData" / windows_default))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get(xdg_var, Path.home() / xdg_default))
    return base / APP


def user_config_dir() -> Path:
    # LORA_DESK_CONFIG_DIR: the app's override too (app/settings.py): tests, portable use
    return _user_dir("LORA_DESK_CONFIG_DIR", "APPDATA", "Roaming", "XDG_CONFIG_HOME", ".config")


def user_presets_dir() -> Path:
    return user_config_dir() / "presets"


def user_data_dir() -> Path:
    """Where the program keeps data of its own (rescued LoRA files, crash logs); LORA_DESK_DATA_DIR overrides
    it (tests, portable use)."""
    return _user_dir("LORA_DESK_DATA_DIR", "LOCALAPPDATA", "Local", "XDG_DATA_HOME", ".local/share")


def user_log_dir() -> Path:
    """Crash logs of the window (app/crash.py)."""
    return user_data_dir() / "logs"
