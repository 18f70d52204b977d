"""The README's picture of per-concept options and the masked-loss preview: a copy of the demo dataset (one image
given a transparent background) open at 1280x800, two concepts with their own options as the concept list shows
them, alpha_mask on, and that image selected so its mask is tinted over it. The demo folder is not changed.

    python bench/dataset_options_screenshot.py [--out docs/screenshots/dataset-options.png] [--lang en|ru]
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _cut_out(path: Path) -> None:
    """Give the image a transparent border (the 'background' masked_loss with alpha_mask leaves out)."""
    from PIL import Image, ImageDraw

    img = Image.open(path).convert("RGBA")
    alpha = Image.new("L", img.size, 0)
    w, h = img.size
    ImageDraw.Draw(alpha).ellipse((w * 0.15, h * 0.1, w * 0.85, h * 0.9), fill=255)
    img.putalpha(alpha)
    img.save(path)


def main(argv=None) -> int:
    from screens import offscreen_app, open_dataset, open_window, save_shot, shot_parser

    args = shot_parser(__doc__, ROOT / "docs" / "screenshots" / "dataset-options.png").parse_args(argv)

    app, tmp = offscreen_app("options_shot_", args.lang)
    data = tmp / "demo_dataset"
    shutil.copytree(ROOT / "examples" / "demo_dataset", data)
    first = min((data / "4_redcircle").glob("*.png"))
    _cut_out(first)
    from app.launch import wait_until

    win = open_window()
    win.training_page.form.set_value("alpha_mask", True)  # the Training page passes it on to the Dataset page
    page = open_dataset(app, win, data)
    opts = {"4_redcircle": {"keep_tokens": 1, "shuffle_caption": True, "flip_aug": False},
            "2_bluesquare": {"flip_aug": True, "caption_dropout_rate": 0.1}}
    for i in range(page.concepts.topLevelItemCount()):
        it = page.concepts.topLevelItem(i)
        c = page.concepts._concept_of(it)
        if c is not None and c.folder_name in opts:
            c.options = opts[c.folder_name]
            page.concepts._fill(it, c)
    if not page.select_path(first):
        print("error: cannot select", first, file=sys.stderr)
        return 1
    if not wait_until(app, lambda: page.preview.picture.mask is not None, 30):
        print("error: the mask overlay did not appear", file=sys.stderr)
        return 1
    wait_until(app, lambda: False, 0.3)
    return save_shot(win.grab(), args.out)


if __name__ == "__main__":
    sys.exit(main())
