"""bench/gui_overhead.py runs end to end (one short round per case, in a child process) and prints its goal
lines; its speed measure ignores the steps before the first fifth."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_bench():
    spec = importlib.util.spec_from_file_location("gui_overhead", ROOT / "bench" / "gui_overhead.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_loop_rate_uses_the_trainer_clock_after_warm_up():
    from trainer import events as ev

    # step 1 took 2 s (warm-up), then 0.5 s each: Step.it_per_s is the rate since the loop began
    times = [2.0 + 0.5 * i for i in range(10)]
    steps = [ev.Step(i + 1, 10, 1, 0.1, 0.1, {}, (i + 1) / t, 0.0) for i, t in enumerate(times)]
    assert abs(load_bench().loop_rate(steps) - 2.0) < 1e-9


@pytest.mark.slow
def test_bench_prints_both_goal_lines(tmp_path):
    out = subprocess.run([sys.executable, "bench/gui_overhead.py", "--rounds", "1", "--steps", "5"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    for case in ("today", "host"):
        line = next(x for x in out.stdout.splitlines() if x.startswith(f"[{case}] ratio gui/bare: "))
        assert "(goal >= 0.99)" in line and float(line.split(": ")[1].split()[0]) > 0
    assert "GUI thread busy" in out.stdout and "load average before" in out.stdout
