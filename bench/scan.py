"""Scanning 10,000 images + captions into the thumbnail model, as the Dataset page does it (scan, indexes and
tag frequency in a pool thread, then the model filled on the GUI thread). Prints seconds (goal <= 2 s here).

    python bench/scan.py [--images 10000] [--runs 3]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make(root: Path, n: int) -> None:
    from PIL import Image

    blobs = []
    for i in range(8):
        buf = io.BytesIO()
        Image.new("RGB", (24 + i, 16), (30 * i, 100, 200)).save(buf, "PNG")
        blobs.append(buf.getvalue())
    for c, repeats in enumerate((1, 4, 10)):
        (root / f"{repeats}_concept{c}").mkdir(parents=True)
    folders = sorted(root.iterdir())
    for i in range(n):
        d = folders[i % len(folders)]
        (d / f"{i:05d}.png").write_bytes(blobs[i % 8])
        (d / f"{i:05d}.txt").write_bytes(b"concept, tag%d, simple background, looking at viewer\n" % (i % 50))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    import trainer.dataset  # noqa: F401  (import time is part of bench/startup.py)
    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        make(root, args.images)
        times = []
        for _ in range(args.runs):
            page = DatasetPage(CaptionStore(), Path(tmp) / "cache")
            page.resize(1200, 800)
            t = time.perf_counter()
            page.open_dataset(root)
            while page.scan is None or page.is_loading():
                app.processEvents()
                time.sleep(0.001)
            times.append(time.perf_counter() - t)
            assert page.model.rowCount() == args.images
            page.shutdown()
            page.deleteLater()
    print(f"{args.images} images + captions into the model: {statistics.median(times):.2f} s "
          f"(median of {args.runs}; runs {', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
