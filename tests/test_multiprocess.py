"""Data-parallel training: `accelerate launch --multi_gpu --num_processes 2` on CPUs (gloo) trains one model,
halves the steps per epoch and writes one file from the main process."""
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import make_dataset

ROOT = Path(__file__).resolve().parent.parent


def test_two_processes_train_one_model(tiny_ckpt, tmp_path):
    data = make_dataset(tmp_path / "data", {"2_a": 4, "1_b": 3})  # 11 samples: uneven batches too
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'pretrained_model_name_or_path = "{tiny_ckpt("sd1")}"\ntrain_data_dir = "{data}"\n'
                   f'output_dir = "{tmp_path / "out"}"\nresolution = 64\nmax_train_epochs = 1\n'
                   'train_batch_size = 2\nmax_data_loader_n_workers = 0\nnetwork_dim = 4\n')
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    r = subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                        "--mixed_precision", "no", "--dynamo_backend", "no", str(ROOT / "main.py"), "train",
                        "--config_file", str(cfg)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    # 6 batches of 2 (buckets never mix) over 2 processes -> 3 steps; printed once, by the main process
    assert r.stderr.count("-> 3 steps per epoch") == 1, r.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["last.safetensors"]
