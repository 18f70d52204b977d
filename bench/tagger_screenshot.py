"""The README's picture of the Auto-tag dialog: the demo dataset (examples/) open in the window at 1280x800,
the dialog run with the tiny test tagger (tests/tagging_fixtures.py, built here; nothing downloaded) and its
preview shown over the window. Nothing is applied, so the demo captions stay as they are.

    python bench/tagger_screenshot.py [--out docs/screenshots/tagger.png] [--lang en|ru]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv=None) -> int:
    from screens import offscreen_app, open_dataset, open_window, save_shot, shot_parser

    args = shot_parser(__doc__, ROOT / "docs" / "screenshots" / "tagger.png").parse_args(argv)

    app, tmp = offscreen_app("tagger_shot_", args.lang)
    from PySide6.QtGui import QColor, QPainter

    from app import i18n
    from app.launch import wait_until
    from tagging_fixtures import make_tagger
    from widgets.dataset.tagger_dialog import open_tagger_dialog

    model, tags = make_tagger(tmp / "tiny-tagger", size=64)

    win = open_window()
    page = open_dataset(app, win, ROOT / "examples" / "demo_dataset")
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
    code = save_shot(shot, args.out)
    dlg.reject()
    win.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
