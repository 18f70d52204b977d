"""The README's picture of the Auto-tag dialog: the demo dataset (examples/) open in the window at 1280x800,
the dialog run with the tiny test tagger (tests/tagging_fixtures.py, built here; nothing downloaded) and its
preview shown over the window. Nothing is applied, so the demo captions stay as they are.

    python bench/tagger_screenshot.py [--out docs/screenshots/tagger.png] [--lang en|ru]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "tagger.png"))
    ap.add_argument("--lang", default="en")
    args = ap.parse_args(argv)
    from screens import offscreen_app

    app, tmp = offscreen_app("tagger_shot_", args.lang)
    from PySide6.QtGui import QColor, QPainter

    from app import i18n
    from app.launch import wait_until
    from app.main_window import MainWindow
    from app.settings import make_settings
    from tagging_fixtures import make_tagger
    from widgets.dataset.tagger_dialog import open_tagger_dialog

    model, tags = make_tagger(tmp / "tiny-tagger", size=64)

    win = MainWindow(make_settings(), persist=False)
    win.resize(1280, 800)
    win.show()
    page = win.dataset_page
    page.open_dataset(ROOT / "examples" / "demo_dataset")
    wait_until(app, lambda: page.scan is not None and not page.is_loading(), 30)
    wait_until(app, lambda: page.model.loader.pending() == 0, 30)
    dlg = open_tagger_dialog(page, show=False)
    dlg.model.set_path(model)
    dlg.tags.set_path(tags)
    dlg.scope.setCurrentIndex(next(i for i in range(dlg.scope.count())
                                   if dlg.scope.itemText(i).startswith(i18n.tr("Whole dataset"))))
    dlg.trigger.setText("shapes_style")
    dlg.exclude.setText("watermark, signature")
    dlg.resize(960, 640)
    dlg.show()
    dlg.start()
    if not wait_until(app, lambda: not dlg.is_running(), 60):
        print("error: the tagger did not finish", file=sys.stderr)
        return 1
    wait_until(app, lambda: False, 0.3)
    shot = win.grab()
    painter = QPainter(shot)
    inner = dlg.grab()
    painter.fillRect(shot.rect(), QColor(0, 0, 0, 90))  # the window dimmed behind the dialog
    painter.drawPixmap((shot.width() - inner.width()) // 2, (shot.height() - inner.height()) // 2, inner)
    painter.end()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = shot.save(str(out))
    dlg.reject()
    win.close()
    print(f"saved {out}" if ok else f"error: could not write {out}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
