"""Start-up against kohya-ss sd-scripts: process start to the end of the first training step, same TOML.

    python bench/sd_scripts_startup.py --sd-scripts DIR --sd-python PATH [--runs 3] [--work DIR] [--model F]

DIR is a checkout of sd-scripts and PATH the Python of a venv with its requirements (see docs/traps.md for
one on this CPU-only machine). Both programs train the same TOML on the same dataset (examples/demo_dataset)
and the same model: a random-weight SD 1.5 checkpoint in the original layout (sd-scripts builds its UNet with
SD 1.5's channel widths, so the tiny test model does not load there), written once into --work. Runs
alternate (ours, theirs, ours, ...), each a fresh process stopped right after its first step: ours when
TrainingLoop.optimizer_step first returns (the child prints a marker), sd-scripts when its progress bar shows
"1/1" (it updates the bar after the optimizer step). Wall time is measured here from the start of the
process; CPU time of the process at that moment (all threads, from /proc) is printed beside it because a
shared machine distorts wall time. Prints both medians and `ratio ours/sd-scripts: X (goal <= 1.0)`."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "LORA_DESK_FIRST_STEP_DONE"
SD_MARK = re.compile(r"steps: +100%\|[^|\r\n]*\| *1/1 \[")

# main.py train with a hook that prints MARK when the first optimizer step has returned
OURS = """
import sys
sys.path.insert(0, {root!r})
from trainer.run.loop import TrainingLoop
step = TrainingLoop.optimizer_step
def first(loop, *a, **k):
    out = step(loop, *a, **k)
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    print({mark!r}, flush=True)
    return out
TrainingLoop.optimizer_step = first
import main
sys.exit(main.main(["train", "--config_file", {toml!r}, "--output_dir", {out!r}]))
"""

TOML = """# bench/sd_scripts_startup.py: one step of the demo's settings on a full-size SD 1.5 layout
pretrained_model_name_or_path = {model}
tokenizer_cache_dir = {tok}
train_data_dir = {data}
caption_extension = ".txt"
resolution = "64,64"
enable_bucket = true
min_bucket_reso = 64
max_bucket_reso = 128
bucket_reso_steps = 64
shuffle_caption = true
keep_tokens = 1
network_module = "networks.lora"
network_dim = 8
network_alpha = 4
network_args = ["conv_dim=4", "conv_alpha=2"]
optimizer_type = "AdamW"
learning_rate = 1e-3
unet_lr = 1e-3
text_encoder_lr = 5e-4
lr_scheduler = "cosine"
train_batch_size = 2
max_train_steps = 1
seed = 42
max_data_loader_n_workers = 0
output_name = "bench"
save_precision = "fp16"
"""


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a running process (all its threads), or None off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def timed_run(cmd: list[str], cwd: Path, found) -> tuple[float, float | None]:
    """Start cmd, read its merged output until found(text) -> (seconds to then, CPU seconds); kill it."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    text = ""
    try:
        while True:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                p.wait()
                raise SystemExit(f"{cmd[0]} ended ({p.returncode}) before its first step:\n{text[-3000:]}")
            text += chunk.decode("utf-8", "replace")
            if found(text):
                return time.perf_counter() - t0, cpu_seconds(p.pid)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        p.stdout.close()


def prepare(work: Path, model: Path | None = None) -> Path:
    """The model (made once unless given), a tokenizer folder as sd-scripts' tokenizer_cache_dir reads it,
    the TOML."""
    if model is None:  # the GPU benches' random-weight SD 1.5 (2.1 GB), shared when --work is theirs
        sys.path.insert(0, str(ROOT / "bench"))
        from vram_calibration import make_models

        model = make_models(work, ["sd1"], smoke=False)["sd1"]
    elif not model.is_file():
        raise SystemExit(f"--model {model} is not a file.")
    tok = work / "tokenizers" / "openai_clip-vit-large-patch14"
    tok.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(ROOT / "resources" / "tokenizers" / "clip" / name, tok / name)
    (tok / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}), encoding="utf-8")
    toml = work / "startup.toml"
    toml.write_text(TOML.format(model=json.dumps(str(model)), tok=json.dumps(str(tok.parent)),
                                data=json.dumps(str(ROOT / "examples" / "demo_dataset"))), encoding="utf-8")
    return toml


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sd-scripts", required=True, type=Path, help="checkout with train_network.py")
    ap.add_argument("--sd-python", required=True, help="Python of sd-scripts' venv")
    ap.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    ap.add_argument("--work", type=Path, help="folder for the model and outputs, kept (default: temporary)")
    ap.add_argument("--model", type=Path, help="an SD 1.x file both can load (default: a random SD 1.5)")
    a = ap.parse_args(argv)
    if not (a.sd_scripts / "train_network.py").is_file():
        raise SystemExit(f"{a.sd_scripts} has no train_network.py.")
    keep = a.work is not None
    work = a.work or Path(tempfile.mkdtemp(prefix="sd-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        toml = prepare(work, a.model)
        ours, theirs = [], []
        for i in range(a.runs):
            out = work / f"out{i}"
            code = OURS.format(root=str(ROOT), mark=MARK, toml=str(toml), out=str(out / "ours"))
            ours.append(timed_run([sys.executable, "-c", code], ROOT, lambda t: MARK in t))
            theirs.append(timed_run([a.sd_python, "train_network.py", "--config_file", str(toml),
                                     "--output_dir", str(out / "sd-scripts")], a.sd_scripts, SD_MARK.search))
            print(f"run {i + 1}: ours {ours[-1][0]:.2f} s (CPU {ours[-1][1] or 0:.2f}), "
                  f"sd-scripts {theirs[-1][0]:.2f} s (CPU {theirs[-1][1] or 0:.2f})", flush=True)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    wall_o, wall_s = (statistics.median(r[0] for r in rs) for rs in (ours, theirs))
    print(f"median to first step: ours {wall_o:.2f} s, sd-scripts {wall_s:.2f} s ({a.runs} runs each)")
    if all(r[1] is not None for r in ours + theirs):
        cpu_o, cpu_s = (statistics.median(r[1] for r in rs) for rs in (ours, theirs))
        print(f"median CPU seconds: ours {cpu_o:.2f}, sd-scripts {cpu_s:.2f} (ratio {cpu_o / cpu_s:.3f})")
    print(f"ratio ours/sd-scripts: {wall_o / wall_s:.3f} (goal <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
