"""Time to the first shown window of `python main.py` against a process that only shows an empty QMainWindow.

Both run as fresh processes (interpreter start included) and quit as soon as the window is shown; the median
of several runs is compared. Goal: ratio <= 1.5. The app shows its window shell first and builds the pages on
the next event-loop turn, so the time with the pages built is printed too. Settings and cache go to a
temporary folder.

    python bench/startup.py [--runs 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EMPTY = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv)
w = QMainWindow()
w.resize(1400, 900)
w.show()
QTimer.singleShot(0, app.quit)
sys.exit(app.exec())
"""


def timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                   LORA_DESK_CONFIG_DIR=str(Path(tmp) / "cfg"), LORA_DESK_CACHE_DIR=str(Path(tmp) / "cache"),
                   )
        shown = dict(env, LORA_DESK_QUIT_AFTER_SHOW="shown")
        built = dict(env, LORA_DESK_QUIT_AFTER_SHOW="built")
        app_cmd = [sys.executable, "main.py"]
        empty_cmd = [sys.executable, "-c", EMPTY]
        timed(app_cmd, shown), timed(empty_cmd, env)  # warm the file cache
        app_t, built_t, empty_t = [], [], []
        for _ in range(args.runs):  # interleaved, so a busy moment hits all three
            empty_t.append(timed(empty_cmd, env))
            app_t.append(timed(app_cmd, shown))
            built_t.append(timed(app_cmd, built))
    a, b, e = statistics.median(app_t), statistics.median(built_t), statistics.median(empty_t)
    print(f"empty QMainWindow process:           {e:.3f} s (median of {args.runs})")
    print(f"LoRA Desk first shown window:        {a:.3f} s")
    print(f"LoRA Desk with all pages and menus:  {b:.3f} s")
    print(f"ratio (first shown window): {a / e:.2f} (goal <= 1.5); with pages built: {b / e:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
