"""What the screenshot scripts share: an offscreen QApplication with the app's style and language whose
settings and caches go to a fresh temporary folder (the user's own are never touched)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def offscreen_app(prefix: str, lang: str):
    """-> (QApplication, the temporary folder). Call before the app's settings are first read."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["LORA_DESK_CONFIG_DIR"] = str(tmp / "cfg")
    os.environ["LORA_DESK_CACHE_DIR"] = str(tmp / "cache")
    from PySide6.QtWidgets import QApplication

    from app import i18n
    from app.style import STYLE

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(STYLE)
    i18n.set_language(lang)
    return app, tmp
