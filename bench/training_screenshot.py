"""The README's picture of the training view during a real run: the demo config (tiny model, examples/) trained
from the Training page offscreen, the window grabbed after N steps, then the run is stopped.

    python bench/training_screenshot.py [--steps 120] [--out docs/screenshots/training-run.png] [--lang en|ru]
    python bench/training_screenshot.py --watch --steps 60 --out docs/screenshots/training-watch.png

--watch also makes sample images (examples/demo_prompts.txt every 10 steps and at the start) and measures a
validation loss (validation_split 0.2, every 10 steps), as the Progress view shows them.

The files of the run go to a temporary folder (examples/demo_output is left alone).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv=None) -> int:
    from screens import offscreen_app, open_window, save_shot, shot_parser

    ap = shot_parser(__doc__, ROOT / "docs" / "screenshots" / "training-run.png")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--watch", action="store_true", help="sample images and validation loss too")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    app, tmp = offscreen_app("training_shot_", args.lang)
    from app.launch import wait_until
    from trainer.config.files import load_toml
    from trainer.cli.demo import DEMO_CONFIG, ensure_demo_model

    cfg = load_toml(DEMO_CONFIG)
    ensure_demo_model(cfg.pretrained_model_name_or_path)
    cfg = cfg.replace(output_dir=str(tmp / "out"), logging_dir=str(tmp / "logs"))
    if args.watch:
        cfg = cfg.replace(sample_prompts=str(ROOT / "examples" / "demo_prompts.txt"), sample_every_n_steps=10,
                          sample_at_first=True, validation_split=0.2, validate_every_n_steps=10)
    win = open_window(cfg, (1400, 900))
    win.show_page("training")
    page = win.training_page

    if not page.start():
        print("error: cannot start: " + "; ".join(i.message for i in page.errors()), file=sys.stderr)
        return 1
    if not wait_until(app, lambda: page.view.steps.n >= args.steps or not page.is_training(), 600):
        print("error: training too slow", file=sys.stderr)
    wait_until(app, lambda: False, 0.4)  # the next timer redraw
    page.view.refresh()
    app.processEvents()
    code = save_shot(win.grab(), args.out, f" at step {page.view.steps.n}")
    page.stop()
    wait_until(app, lambda: not page.is_training(), 120)
    win.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
