"""``python main.py tag DIR --model model.onnx --tags selected_tags.csv [...]``: tag a folder's images with a
WD14-style ONNX tagger and write their captions. Exit codes: 0 done, 1 bad input (one sentence on stderr),
130 interrupted (nothing written: captions are written only after every image is tagged)."""
from __future__ import annotations

import argparse
import sys

from trainer.cli.argparsing import FriendlyParser
from trainer.tools.cli import Progress, _run


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number above 0 and at most 1, not '{text}'")
    return v


def _parser() -> FriendlyParser:
    ap = FriendlyParser(prog="main.py tag", description="Tag images with a WD14-style ONNX tagger you have on disk "
                 "(model .onnx + its selected_tags.csv) and write the tags to their caption files.")
    ap.add_argument("dir", metavar="DIR", help="folder of images, or a training folder with concept folders "
                    "like 6_maid (their images are tagged too)")
    ap.add_argument("--model", required=True, metavar="FILE.onnx", help="the tagger model (.onnx)")
    ap.add_argument("--tags", required=True, metavar="CSV", help="the model's selected_tags.csv")
    ap.add_argument("--threshold", "--thresh", "--general_threshold", dest="threshold", type=_fraction,
                    default=0.35, help="lowest score of a general tag (default 0.35)")
    ap.add_argument("--character_threshold", type=_fraction, default=0.85,
                    help="lowest score of a character tag (default 0.85)")
    ap.add_argument("--exclude", "--undesired_tags", dest="exclude", default="", metavar='"a,b"',
                    help="comma-separated tags never to add")
    ap.add_argument("--mode", choices=("add", "replace"), default="add",
                    help="add: keep the existing tags and append new ones (default); "
                    "replace: only the new tags")
    ap.add_argument("--trigger", default="", metavar="WORD", help="trigger word, kept first in every caption")
    ap.add_argument("--caption_extension", default=".txt", help="caption file extension (default .txt)")
    ap.add_argument("--keep_underscores", action="store_true",
                    help="write tags as the model names them (long_hair) instead of with spaces (long hair)")
    ap.add_argument("--recursive", action="store_true", help="tag the images of every sub-folder")
    ap.add_argument("--batch_size", type=int, default=4, help="images per model call (models with a fixed "
                    "batch size use theirs)")
    ap.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                    help="show what would change, write nothing")
    return ap


def _tag(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    from trainer.dataset.tags import apply_bulk

    from .run import find_targets, load_and_tag
    from .select import TagOptions, parse_tag_list

    opts = TagOptions(threshold=a.threshold, character_threshold=a.character_threshold,
                      exclude=parse_tag_list(a.exclude), underscores=not a.keep_underscores, mode=a.mode,
                      trigger=a.trigger.strip())
    targets = find_targets(a.dir, a.caption_extension, a.recursive)
    plan = load_and_tag(a.model, a.tags, targets, opts, batch_size=a.batch_size,
                        on_progress=Progress("tagging"))
    out = sys.stdout
    for p in plan.problems:
        print(f"skipped: {p.message}", file=sys.stderr)
    preview = plan.preview
    created = sum(1 for c in preview.changes if c.old_text is None)
    summary = f"{len(preview.changes)} of {len(plan.outcomes)} caption files " + \
        ("would change" if a.dry_run else "changed") + (f" ({created} new)" if created else "") + \
        f"; tagged on {plan.provider.removesuffix('ExecutionProvider')}"
    if a.dry_run:
        for o in plan.outcomes:
            if o.changed:
                before = o.before if o.before is not None else "(no caption)"
                print(f"{o.target.caption}: {before} -> {o.after}", file=out)
        print(summary + "; nothing was written (--dry-run)", file=out)
        return 0
    result = apply_bulk(preview)
    for p in result.failed:
        print(f"not written: {p.message}", file=sys.stderr)
    print(summary, file=out)
    return 1 if result.failed else 0


def main_tag(argv: list[str]) -> int:
    return _run(_tag, argv)
