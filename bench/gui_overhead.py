"""Training speed through the GUI vs the bare core, same process, tiny model on the CPU.

    python bench/gui_overhead.py [--rounds 5] [--busy] [--profile] [--case today|host]

"bare": ``Trainer(cfg).run()`` on a plain thread, no Qt, joined. "gui": the Training page's worker
(app/train_worker.py, a QObject on a QThread) with the live view shown offscreen, the GUI thread in a Qt event
loop as in the app. Two cases: "today" (the tiny SD 1.x model at batch 2, as the tests train) and "host" (a
GPU-like, host-bound step: batch 1, cached latents and text, LoCon's extra conv modules, many short steps; on
the GPU machines the step is bound by Python and kernel launches, so the GUI thread competes with it there).
Speed is the trainer's own steps per second after the first fifth of the steps (model loading and warm-up
excluded); rounds alternate bare/gui. Prints per case the medians, their spread, the GUI thread's CPU time
while training and ``ratio gui/bare: X (goal >= 0.99)``. ``--busy`` keeps one core busy meanwhile (goal 0.98).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CASES = {  # name -> (steps, config overrides)
    "today": (40, {}),
    "host": (120, dict(train_batch_size=1, cache_latents=True, cache_text_encoder_outputs=True,
                       network_train_unet_only=True, network_args=["conv_dim=4", "conv_alpha=1"])),
}


def loop_rate(steps) -> float:
    """Steps per second over the steps after the first fifth, from the trainer's own clock (Step.it_per_s is
    the rate since the loop began), so the GUI's delivery delay does not count."""
    n = len(steps)
    k = max(1, n // 5)
    a, b = steps[k - 1], steps[-1]
    ta, tb = (a.step / a.it_per_s), (b.step / b.it_per_s)
    return (b.step - a.step) / (tb - ta)


def bare(cfg) -> tuple[float, float]:
    from trainer.run.trainer import Trainer

    steps = []
    t = threading.Thread(target=lambda: Trainer(cfg, lambda e: steps.append(e) if type(e).__name__ == "Step"
                                                else None).run())
    t.start()
    t.join()
    return loop_rate(steps), 0.0


def gui(page, cfg, profiler=None) -> tuple[float, float]:
    """Speed, and the GUI thread's CPU time as a share of the training time."""
    from PySide6.QtCore import QEventLoop

    page.set_config(cfg)
    steps, clock = [], {}

    def on_progress(batch):
        if "t0" not in clock:
            clock["t0"] = (time.thread_time(), time.perf_counter())
        steps.extend(batch.steps)

    def on_event(e):
        if type(e).__name__ in ("Finished", "Failed"):  # what the page does after the run is not counted
            clock["t1"] = (time.thread_time(), time.perf_counter())

    page.start()
    page.run.progress.connect(on_progress)
    page.run.event.connect(on_event)
    loop = QEventLoop()
    page.run.done.connect(loop.quit)
    if profiler:
        profiler.enable()
    if page.is_training():
        loop.exec()
    if profiler:
        profiler.disable()
    cpu, wall = clock["t1"][0] - clock["t0"][0], clock["t1"][1] - clock["t0"][1]
    assert page.view.steps.n == cfg.max_train_steps == len(steps), (page.view.steps.n, len(steps))
    return loop_rate(steps), cpu / wall


def spread(values) -> str:
    return f"{min(values):.3f}-{max(values):.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--case", choices=sorted(CASES), action="append", help="one case only (default: both)")
    ap.add_argument("--steps", type=int, help="steps per run (default: the case's)")
    ap.add_argument("--busy", action="store_true", help="keep one core busy with another process meanwhile")
    ap.add_argument("--profile", action="store_true", help="cProfile the GUI thread during the gui runs")
    args = ap.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from conftest import make_dataset, quick_config
    from trainer.models.tiny import make_tiny_checkpoint

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores", flush=True)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    tmp = Path(tempfile.mkdtemp(prefix="gui_overhead_"))
    os.environ["LORA_DESK_CONFIG_DIR"] = str(tmp / "cfg")
    model = make_tiny_checkpoint(tmp / "tiny.safetensors", family="sd1", seed=0)
    data = make_dataset(tmp / "data")
    app = QApplication.instance() or QApplication([])
    from widgets.training.training_page import TrainingPage

    page = TrainingPage()
    page.resize(1400, 900)
    page.show()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    goal = 0.98 if args.busy else 0.99
    summary = []
    try:
        for case in args.case or list(CASES):
            n, extra = CASES[case]
            n = args.steps or n
            made = lambda name, steps: quick_config(model, data, tmp / name, max_train_steps=steps, **extra)  # noqa
            bare(made(f"{case}-warm", 4))  # imports and first-call costs
            gui(page, made(f"{case}-warmgui", 4))
            results = {"bare": [], "gui": []}
            cpu = []
            for r in range(args.rounds):
                for kind in (("bare", "gui") if r % 2 == 0 else ("gui", "bare")):
                    cfg = made(f"{case}-{kind}{r}", n)
                    speed, share = bare(cfg) if kind == "bare" else gui(page, cfg, profiler)
                    results[kind].append(speed)
                    if kind == "gui":
                        cpu.append(share)
                    print(f"{case} round {r + 1} {kind:4s}: {speed:.3f} steps/s"
                          + (f" (GUI thread busy {100 * share:.1f}% of the time)" if kind == "gui" else ""),
                          flush=True)
            b, g = statistics.median(results["bare"]), statistics.median(results["gui"])
            pairs = [gv / bv for gv, bv in zip(results["gui"], results["bare"])]
            summary.append(
                f"[{case}] {n} steps x {args.rounds} rounds: bare core {b:.3f} steps/s "
                f"(spread {spread(results['bare'])}); through the GUI worker with live plots {g:.3f} steps/s "
                f"(spread {spread(results['gui'])}); per-round ratios {spread(pairs)}; "
                f"GUI thread busy {100 * statistics.median(cpu):.2f}% of the time\n"
                f"[{case}] ratio gui/bare: {g / b:.3f} (goal >= {goal}) {'OK' if g / b >= goal else 'BELOW GOAL'}")
    finally:
        page.shutdown()
        if busy:
            busy.kill()
    print("\n".join(summary))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
          + (" (one core kept busy)" if busy else ""))
    if profiler:
        import pstats

        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
