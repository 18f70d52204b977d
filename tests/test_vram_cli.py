"""`python main.py estimate` and the NVML GPU query (trainer/cli/estimate.py, trainer/gpu_info.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trainer import gpu_info
from trainer.cli.estimate import main_estimate

ROOT = Path(__file__).resolve().parent.parent
PEAK = re.compile(r"^peak: (\d+\.\d+) GiB$")


@pytest.fixture
def config_file(tiny_ckpt, tmp_path):
    p = tmp_path / "train.toml"
    p.write_text(
        "[model]\n"
        f"pretrained_model_name_or_path = {json.dumps(str(tiny_ckpt('sdxl')))}\n"
        "[network]\nnetwork_module = \"networks.lora\"\nnetwork_dim = 8\n"
        "[training]\nresolution = \"1024,1024\"\ntrain_batch_size = 1\nmixed_precision = \"bf16\"\n"
        "optimizer_type = \"AdamW8bit\"\ngradient_checkpointing = true\n",
        encoding="utf-8")
    return p


def run_main(*args):
    return subprocess.run([sys.executable, "main.py", "estimate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def peak_of(text: str) -> float:
    last = text.strip().splitlines()[-1]
    m = PEAK.match(last)
    assert m, f"last line is {last!r}"
    return float(m.group(1))


def test_main_py_estimate_prints_the_breakdown_and_ends_with_peak(config_file):
    out = run_main("--config_file", str(config_file))
    assert out.returncode == 0, out.stderr
    assert peak_of(out.stdout) > 0.5
    for word in ("UNet weights", "optimizer state (AdamW8bit)", "UNet activations", "CUDA context",
                 "calibration partial"):
        assert word in out.stdout
    js = run_main("--config_file", str(config_file), "--json")
    assert js.returncode == 0, js.stderr
    data = json.loads(js.stdout)
    assert data["family"] == "sdxl" and data["calibration"] == "partial"
    assert data["peak_gib"] == pytest.approx(peak_of(out.stdout), abs=0.006)
    assert sum(p["bytes"] for p in data["parts"]) <= data["peak_bytes"]
    assert {p["key"] for p in data["parts"]} >= {"unet_weights", "lora_weights", "optimizer_state", "cuda_context"}


def test_options_override_the_file(config_file, capsys):
    assert main_estimate(["--config_file", str(config_file)]) == 0
    one = peak_of(capsys.readouterr().out)
    assert main_estimate(["--config_file", str(config_file), "--train_batch_size", "4",
                          "--gradient_checkpointing", "false"]) == 0
    four = peak_of(capsys.readouterr().out)
    assert four > one
    assert main_estimate(["--config_file", str(config_file), "--json", "--attention", "naive",
                          "--gradient_checkpointing", "false"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["peak_gib"] > four and any("naive" in n for n in data["notes"])


def test_bad_input_is_one_line_and_exit_code_1(tmp_path, capsys):
    missing = tmp_path / "none.safetensors"
    assert main_estimate(["--pretrained_model_name_or_path", str(missing)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not exist" in err and len(err.splitlines()) == 1
    assert main_estimate([]) == 1
    assert "base model" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("train_batch_sise = 2\n", encoding="utf-8")
    assert main_estimate(["--config_file", str(bad)]) == 1
    assert "train_batch_size" in capsys.readouterr().err


def test_gpu_flag_without_a_driver(config_file, capsys, monkeypatch):
    monkeypatch.setattr(gpu_info, "query_gpus", lambda: None)
    assert main_estimate(["--config_file", str(config_file), "--gpu"]) == 0
    out = capsys.readouterr().out
    assert gpu_info.NO_GPU in out and PEAK.match(out.strip().splitlines()[-1])
    assert main_estimate(["--config_file", str(config_file), "--gpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gpus"] is None


# ------------------------------------------------------------------------------------------------ gpu_info


def test_without_a_driver_returns_none_and_says_so(monkeypatch):
    import pynvml

    def no_library():
        raise pynvml.NVMLError_LibraryNotFound()

    monkeypatch.setattr(gpu_info, "_initialised", False)
    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    assert gpu_info.query_gpus() is None
    assert gpu_info.gpu_summary() == "no NVIDIA GPU found"

    def driver_not_loaded():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", driver_not_loaded)
    assert gpu_info.query_gpus() is None


def test_real_nvml_never_raises():
    """Here (no driver) None; on a machine with an NVIDIA GPU a list of its memory."""
    gpus = gpu_info.query_gpus()
    assert gpus is None or (gpus and all(g.total_bytes >= g.free_bytes > 0 for g in gpus))
    assert isinstance(gpu_info.gpu_summary(gpus), str)


def test_reads_every_gpu(monkeypatch):
    import pynvml

    class Mem:
        def __init__(self, total, free):
            self.total, self.free, self.used = total, free, total - free

    devices = [(b"NVIDIA GeForce RTX 3060", Mem(12 * 1024 ** 3, 11 * 1024 ** 3)),
               ("NVIDIA RTX A6000", Mem(48 * 1024 ** 3, 2 * 1024 ** 3))]
    monkeypatch.setattr(gpu_info, "_initialised", False)
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: len(devices))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: i)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: devices[h][0])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", lambda h: devices[h][1])
    gpus = gpu_info.query_gpus()
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 3060", "NVIDIA RTX A6000"]
    assert gpus[0].total_gib == 12 and gpus[1].free_gib == 2 and gpus[0].to_dict()["used_gib"] == 1
    text = gpu_info.gpu_summary(gpus, need_bytes=8 * 1024 ** 3)
    assert "GPU 0 NVIDIA GeForce RTX 3060: 12.0 GiB total, 11.0 GiB free; fits" in text
    assert "GPU 1 NVIDIA RTX A6000: 48.0 GiB total, 2.0 GiB free; fits when other programs free memory" in text
    monkeypatch.setattr(gpu_info, "_initialised", False)
