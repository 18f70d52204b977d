"""Training speed through the GUI vs the bare core, same process, tiny model on the CPU.

    python bench/gui_overhead.py [--steps 30] [--rounds 2]

"bare": ``Trainer(cfg).run()`` on a plain thread, no Qt. "gui": the Training page's worker (app/train_worker.py,
a QObject on a QThread) with the live view (loss and lr plots redrawn by a timer) shown offscreen and the event
loop running. Speed is the trainer's own steps per second over the loop (model loading excluded), the median
of alternating rounds. Prints the ratio gui / bare (goal >= 0.98).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def bare(cfg) -> float:
    from trainer.trainer import Trainer

    steps = []
    t = threading.Thread(target=lambda: Trainer(cfg, lambda e: steps.append(e) if type(e).__name__ == "Step"
                                                else None).run())
    t.start()
    t.join()
    return steps[-1].it_per_s


def gui(app, page, cfg) -> float:
    page.set_config(cfg)
    steps = []
    page.start()
    page.run.event.connect(lambda e: steps.append(e) if type(e).__name__ == "Step" else None)
    while page.is_training():
        app.processEvents()
        time.sleep(0.005)
    app.processEvents()
    assert page.view.refresh_count > 0 and page.view.steps.n == cfg.max_train_steps
    return steps[-1].it_per_s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from conftest import make_dataset, quick_config
    from trainer.models.tiny import make_tiny_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="gui_overhead_"))
    os.environ["LORA_DESK_CONFIG_DIR"] = str(tmp / "cfg")
    model = make_tiny_checkpoint(tmp / "tiny.safetensors", family="sd1", seed=0)
    data = make_dataset(tmp / "data")
    app = QApplication.instance() or QApplication([])
    from widgets.training_page import TrainingPage

    page = TrainingPage()
    page.resize(1400, 900)
    page.show()
    results = {"bare": [], "gui": []}
    bare(quick_config(model, data, tmp / "warm", max_train_steps=2))  # imports and first-call costs
    for r in range(args.rounds):
        for kind in (("bare", "gui") if r % 2 == 0 else ("gui", "bare")):
            cfg = quick_config(model, data, tmp / f"{kind}{r}", max_train_steps=args.steps)
            speed = bare(cfg) if kind == "bare" else gui(app, page, cfg)
            results[kind].append(speed)
            print(f"round {r + 1} {kind:4s}: {speed:.3f} steps/s", flush=True)
    b, g = statistics.median(results["bare"]), statistics.median(results["gui"])
    ratio = g / b
    print(f"bare core: {b:.3f} steps/s; through the GUI worker with live plots: {g:.3f} steps/s")
    print(f"ratio gui/bare: {ratio:.3f} (goal >= 0.98) {'OK' if ratio >= 0.98 else 'BELOW GOAL'}")
    page.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
