"""Where the app keeps its settings (QSettings, INI format) and its thumbnail cache.

``LORA_DESK_CONFIG_DIR`` and ``LORA_DESK_CACHE_DIR`` override both places (tests and benches use them so they
never touch the user's real settings).
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

ORG = "LoRA Desk"
APP = "LoRA Desk"


def make_settings() -> QSettings:
    folder = os.environ.get("LORA_DESK_CONFIG_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(folder) / "lora-desk.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)


def cache_dir() -> Path:
    folder = os.environ.get("LORA_DESK_CACHE_DIR")
    if not folder:
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
        if not folder:
            folder = str(Path.home() / ".cache" / "lora-desk")
    return Path(folder)
