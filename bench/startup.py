"""Time to a usable window of `python main.py` against a process that only shows an empty QMainWindow.

Both run as fresh processes (interpreter start included); the median of several interleaved runs is compared.
"Usable" means the window is shown with the page it opens on built, and the menus: what a user can click
(the other pages are built when first shown). Goal: usable-window ratio <= 4. The time to the first shown
window shell (the pages follow on the next event-loop turn) is printed too. Settings and cache go to a
temporary folder; bytecode is cached as on a user's machine (PYTHONDONTWRITEBYTECODE is dropped), and the
load averages before and after are printed, since a busy machine slows the app more than the empty window.

    python bench/startup.py [--runs 7] [--page dataset|training|tools]
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
    ap.add_argument("--page", choices=("dataset", "training", "tools"), default="dataset",
                    help="the page the window opens on (as remembered from the last session)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                   LORA_DESK_CONFIG_DIR=str(Path(tmp) / "cfg"), LORA_DESK_CACHE_DIR=str(Path(tmp) / "cache"),
                   )
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        page = ("dataset", "training", "tools").index(args.page)
        (Path(tmp) / "cfg").mkdir()
        (Path(tmp) / "cfg" / "lora-desk.ini").write_text(f"[window]\npage={page}\n")
        shown = dict(env, LORA_DESK_QUIT_AFTER_SHOW="shown")
        built = dict(env, LORA_DESK_QUIT_AFTER_SHOW="built")
        app_cmd = [sys.executable, "main.py"]
        empty_cmd = [sys.executable, "-c", EMPTY]
        timed(app_cmd, built), timed(empty_cmd, env)  # warm the file cache and write the bytecode
        app_t, built_t, empty_t = [], [], []
        for _ in range(args.runs):  # interleaved, so a busy moment hits all three
            empty_t.append(timed(empty_cmd, env))
            app_t.append(timed(app_cmd, shown))
            built_t.append(timed(app_cmd, built))
    a, b, e = statistics.median(app_t), statistics.median(built_t), statistics.median(empty_t)
    load_after = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} CPUs)")
    print(f"empty QMainWindow process:             {e:.3f} s (median of {args.runs})")
    print(f"LoRA Desk first shown window shell:    {a:.3f} s ({a / e:.2f}x)")
    print(f"LoRA Desk usable window ({args.page} page): {b:.3f} s")
    print(f"usable-window ratio: {b / e:.2f} (goal <= 4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
