"""What the screenshot scripts share: an offscreen QApplication with the app's style and language whose
settings and caches go to a fresh temporary folder (the user's own are never touched), the main window at the
README's size, a dataset opened with its scan and thumbnails done, and the picture written."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

SIZE = (1280, 800)


def shot_parser(doc: str, default_out: Path) -> argparse.ArgumentParser:
    """The scripts' command line: ``--out`` (the picture) and ``--lang`` (en or ru)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", default=str(default_out))
    ap.add_argument("--lang", default="en")
    return ap


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


def open_window(config=None, size: tuple[int, int] = SIZE):
    """The main window shown at ``size`` (with ``config`` on the Training page); it saves no settings."""
    from app.main_window import MainWindow
    from app.settings import make_settings

    win = MainWindow(make_settings(), config, persist=False)
    win.resize(*size)
    win.show()
    return win


def open_dataset(app, win, folder: Path):
    """The Dataset page with ``folder`` open, once its scan and the visible thumbnails are done."""
    from app.launch import wait_until

    page = win.dataset_page
    page.open_dataset(folder)
    wait_until(app, lambda: page.scan is not None and not page.is_loading(), 30)
    wait_until(app, lambda: page.model.loader.pending() == 0, 30)
    return page


def save_shot(picture, out, detail: str = "") -> int:
    """Write the grabbed picture (a QPixmap) to ``out``; prints what happened, returns the exit code."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if picture.save(str(out)):
        print(f"saved {out}{detail}")
        return 0
    print(f"error: could not write {out}", file=sys.stderr)
    return 1
