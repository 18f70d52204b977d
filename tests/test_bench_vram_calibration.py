"""The GPU calibration bench (bench/vram_calibration.py) runs end to end: its smoke mode trains one of its
configurations on the tiny model on CPU in a child process, so a lent GPU's time is never spent on a broken
harness."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_trains_one_configuration(tmp_path, tiny_ckpt):
    import shutil

    shutil.copy(tiny_ckpt("sd1"), tmp_path / "sd1-tiny.safetensors")  # the bench reuses a model in its folder
    out = subprocess.run([sys.executable, "bench/vram_calibration.py", "--smoke", "--only", "1", "--steps", "3",
                          "--work", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    row = next(line for line in out.stdout.splitlines() if line.startswith("| 1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "SD 1.5 512px b1 ckpt AdamW8bit"
    assert float(cells[2]) > 0 and float(cells[6]) > 0  # an estimate, and steps timed
    assert "failed" not in row


def test_without_a_gpu_it_says_so(capsys):
    import importlib.util

    import torch

    if torch.cuda.is_available():
        return
    spec = importlib.util.spec_from_file_location("vram_calibration", ROOT / "bench" / "vram_calibration.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main([]) == 2 and "needs an NVIDIA GPU" in capsys.readouterr().out


def test_models_are_made_once_under_a_partial_name(tmp_path):
    """make_models (shared by the GPU benches and the sd-scripts start-up bench) renames a model into place
    when it is complete and reuses it after; a leftover .partial from a stopped run is never taken."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vram_calibration", ROOT / "bench" / "vram_calibration.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (tmp_path / "sd1-tiny.partial.safetensors").write_bytes(b"cut short")
    path = bench.make_models(tmp_path, ["sd1"], smoke=True)["sd1"]
    assert path == tmp_path / "sd1-tiny.safetensors"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    from trainer.models.loader import load_base_model

    assert load_base_model(path).family == "sd1"
    stamp = path.stat().st_mtime_ns
    assert bench.make_models(tmp_path, ["sd1"], smoke=True)["sd1"] == path and path.stat().st_mtime_ns == stamp
