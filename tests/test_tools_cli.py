"""python main.py resize|check|merge: exit codes and one-line errors."""
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file
from tools_fixtures import one_torch_thread, tools_files  # noqa: F401

from trainer.tools.cli import main_check, main_merge, main_resize

ROOT = Path(__file__).resolve().parents[1]


def test_resize_and_merge_commands(tools_files, tmp_path, capsys):
    out = tmp_path / "r2.safetensors"
    assert main_resize(["--model", str(tools_files["lora"]), "--save_to", str(out), "--new_rank", "2",
                        "--save_precision", "fp16"]) == 0
    text = capsys.readouterr().out
    assert "to rank 2" in text and "norm kept: average" in text
    assert all(v.shape[0] == 2 for k, v in load_file(str(out)).items() if k.endswith("lora_down.weight"))
    merged = tmp_path / "m.safetensors"
    assert main_merge(["--sd_model", str(tools_files["base"]), "--models", str(out), str(tools_files["lora_b"]),
                       "--ratios", "0.8", "0.5", "--save_to", str(merged)]) == 0
    assert merged.exists() and "tensors changed" in capsys.readouterr().out
    assert main_merge(["--models", str(out), str(tools_files["lora_b"]), "--save_to", str(tmp_path / "c.safetensors"),
                       "--new_rank", "3"]) == 0
    assert main_check([str(tmp_path / "c.safetensors")]) == 0


def test_errors_are_one_sentence(tools_files, tmp_path, capsys):
    assert main_resize(["--model", str(tmp_path / "nope.safetensors"), "--save_to", str(tmp_path / "x.safetensors"),
                        "--new_rank", "2"]) == 1
    assert main_check([str(tools_files["base"])]) == 1
    assert main_merge(["--sd_model", str(tools_files["base"]), "--models", str(tools_files["lora"]),
                       "--save_to", str(tools_files["lora"])]) == 1
    assert main_resize(["--model", "x"]) == 1  # argparse: missing --save_to
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "LoRA file not found" in err and "not a LoRA file" in err and "overwrite its input" in err


def test_main_py_dispatch(tmp_path):
    p = subprocess.run([sys.executable, "main.py", "resize", "--model", str(tmp_path / "missing.safetensors"),
                        "--save_to", str(tmp_path / "o.safetensors")], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [f"error: LoRA file not found: {tmp_path / 'missing.safetensors'}"]
