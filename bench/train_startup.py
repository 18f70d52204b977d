"""Process start to first training step of `python main.py train` on the tiny demo, split into phases.

    python bench/train_startup.py [--runs 3] [--config_file examples/demo.toml]

Each run is a fresh process (`main.py train --config_file examples/demo.toml`, stopped after its first step,
output in a temporary folder) with bench/phases.py's timers; prints each phase's median, wall and CPU seconds: imports (process
start to Trainer.run()), dataset scan, read checkpoint, build modules, move to device, caching, network and
optimizer, first step."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys
sys.path[:0] = [{root!r}, {bench!r}]
from phases import PhaseTimer
import main
with PhaseTimer(stop_after_first_step=True) as t:
    code = main.main(["train", "--config_file", {config!r}, "--output_dir", {out!r},
                      "--logging_dir", ""])
print("PHASES " + json.dumps({{"wall": {{"imports": t.age_at_run, **t.phases}},
                              "cpu": {{"imports": t.cpu_at_run, **t.cpu}}}}))
sys.exit(code)
"""


def one_run(out: Path, config: str = "examples/demo.toml") -> dict:
    code = CHILD.format(root=str(ROOT), bench=str(ROOT / "bench"), out=str(out), config=config)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, HF_HUB_OFFLINE="1"))
    line = next((x for x in r.stdout.splitlines() if x.startswith("PHASES ")), None)
    if r.returncode or not line:
        raise SystemExit(f"main.py train failed ({r.returncode}): {r.stderr[-1500:]}")
    return json.loads(line[7:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--config_file", default="examples/demo.toml", help="the TOML to train (default: the demo)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_run(Path(tmp) / f"out{i}", a.config_file) for i in range(a.runs)]
    names = list(runs[0]["wall"])
    wall = {n: statistics.median(r["wall"].get(n, 0.0) for r in runs) for n in names}
    cpu = {n: statistics.median(r["cpu"].get(n, 0.0) for r in runs) for n in names}
    print(f"{'phase':24s} {'wall s':>8s} {'CPU s':>8s}   (median of {a.runs} runs; CPU time is what a busy "
          "machine does not distort)")
    for n in names:
        print(f"{n:24s} {wall[n]:8.2f} {cpu[n]:8.2f}")
    print(f"{'to first step':24s} {sum(wall.values()):8.2f} {sum(cpu.values()):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
