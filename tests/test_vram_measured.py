"""The VRAM estimate against the peaks measured on a real GPU (trainer/vram/calibration.py MEASURED, rows of
bench/vram_calibration.py): within 10 %, and never more than 5 % under the measured peak (a user trusting
an estimate that is low runs out of memory)."""
import importlib.util
from pathlib import Path

import pytest

from trainer import vram
from trainer.models.fullsize import write_full_size_checkpoint
from trainer.vram.calibration import GiB, MEASURED

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("vram_calibration", ROOT / "bench" / "vram_calibration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("fullsize-headers")
    return {fam: write_full_size_checkpoint(d / f"{fam}.safetensors", fam) for fam in ("sd1", "sdxl")}


@pytest.mark.parametrize("row, measured_gib, gpu", MEASURED)
def test_estimate_within_10_percent_and_not_5_percent_under(bench, models, tmp_path, row, measured_gib, gpu):
    config = bench.CONFIGS[row - 1]
    cfg = bench.config_for(config, models[config[0]], tmp_path, tmp_path / "out", 6, smoke=False)
    est = vram.estimate(cfg).allocated_bytes / GiB
    error = (est - measured_gib) / measured_gib
    assert -0.05 <= error <= 0.10, f"row {row} ({bench.label(config)}, {gpu}): estimate {est:.2f} GiB, " \
                                   f"measured {measured_gib:.2f} GiB ({error:+.1%})"
