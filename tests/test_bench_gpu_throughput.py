"""bench/gpu_throughput.py works end to end before a GPU's time is spent on it: --smoke runs the whole harness
(ours and the bare loop, FLOPs, phases) on the tiny SD 1.x and SDXL models on CPU."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_smoke_prints_rates_flops_phases_and_a_ratio_per_configuration(tmp_path):
    out = subprocess.run([sys.executable, "bench/gpu_throughput.py", "--smoke", "--steps", "8", "--work",
                          str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    ratios = [float(x) for x in re.findall(r"^ratio: ([0-9.]+)$", out.stdout, re.M)]
    assert len(ratios) == 2 and all(r > 0 for r in ratios), out.stdout
    for i in (1, 2):
        line = next(x for x in out.stdout.splitlines() if x.startswith(f"[{i}] ") and "it/s" in x)
        assert float(re.search(r"\(([0-9.e+-]+) FLOP\)", line).group(1)) > 0
        phases = next(x for x in out.stdout.splitlines() if x.startswith(f"[{i}] start-up:"))
        for name in ("read checkpoint", "build modules", "cache latents", "network and optimizer", "first step"):
            assert name in phases
