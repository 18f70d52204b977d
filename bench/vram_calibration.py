"""The VRAM estimate against real training on an NVIDIA GPU: 12 configurations of full-size SD 1.5 and SDXL
(random weights), 512-1024 px, batch 1-4, gradient checkpointing on/off, fp8_base on/off, AdamW / AdamW8bit /
Adafactor. One process per model family reads the model once and trains each of its configurations a few steps
on a fresh copy, the peak statistics reset between them; the peak of torch.cuda.max_memory_allocated over the
training steps (after latent caching) is compared with the estimate's allocated bytes, and the speed (it/s,
after the first steps) is printed beside it. All 12 rows: one command, under 9 minutes on an H200.

    python bench/vram_calibration.py [--steps 6] [--only 1,7] [--work DIR] [--out bench/vram_calibration.md]
    python bench/vram_calibration.py --smoke     # no GPU: the same harness on the tiny model on CPU (plumbing)

Prints a table (estimate, measured, error %, it/s) and writes it as Markdown to --out. Goal: every estimate
within 10 %. On a lent device machine the packages it lacks travel as wheels (diffusers, lycoris-lora,
bitsandbytes, prodigyopt, toml; see /work/.library/device/README.md).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GiB = 1024 ** 3

COMMON = dict(network_module="networks.lora", network_dim=32, network_alpha=16, learning_rate=1e-4,
              mixed_precision="bf16", cache_latents=True, sdpa=True, seed=1, max_data_loader_n_workers=0,
              save_model_as="safetensors", save_precision="bf16", lr_scheduler="constant")
# (family, resolution, batch, gradient checkpointing, fp8_base, optimizer, extra settings)
CONFIGS = [
    ("sd1", 512, 1, True, False, "AdamW8bit", {}),
    ("sd1", 512, 4, True, False, "AdamW", {}),
    ("sd1", 512, 1, False, False, "AdamW8bit", {}),
    ("sd1", 768, 2, True, False, "Adafactor", {}),
    ("sd1", 1024, 1, True, False, "AdamW", {}),
    ("sd1", 512, 2, False, False, "AdamW", {"network_train_unet_only": True}),
    ("sdxl", 1024, 1, True, False, "AdamW8bit", {"network_train_unet_only": True, "cache_text_encoder_outputs": True}),
    ("sdxl", 1024, 1, True, True, "AdamW8bit", {"network_train_unet_only": True, "cache_text_encoder_outputs": True}),
    ("sdxl", 1024, 2, True, False, "Adafactor", {}),
    ("sdxl", 768, 1, False, False, "AdamW8bit", {"network_train_unet_only": True, "cache_text_encoder_outputs": True}),
    ("sdxl", 1024, 4, True, False, "AdamW", {"network_train_unet_only": True, "cache_text_encoder_outputs": True}),
    ("sdxl", 512, 4, False, True, "Adafactor", {"network_train_unet_only": True, "cache_text_encoder_outputs": True}),
]
ADAFACTOR_ARGS = ["scale_parameter=False", "relative_step=False", "warmup_init=False"]


def config_for(row, model: Path, data: Path, out: Path, steps: int, smoke: bool):
    from trainer.config.fields import TrainConfig

    family, res, batch, ckpt, fp8, opt, extra = row
    kw = dict(COMMON, pretrained_model_name_or_path=str(model), train_data_dir=str(data), output_dir=str(out),
              output_name="cal", resolution=f"{res},{res}", train_batch_size=batch, gradient_checkpointing=ckpt,
              fp8_base=fp8, optimizer_type=opt, max_train_steps=steps, **extra)
    if opt == "Adafactor":
        kw["optimizer_args"] = ADAFACTOR_ARGS
    if smoke:  # the tiny model on CPU: 64 px, full precision, no 8-bit optimizer or fp8 (CUDA only)
        kw.update(resolution="64,64", mixed_precision="no", fp8_base=False, sdpa=False,
                  optimizer_type="AdamW" if opt == "AdamW8bit" else opt)
    return TrainConfig(**kw)


def label(row) -> str:
    family, res, batch, ckpt, fp8, opt, extra = row
    parts = [("SD 1.5" if family == "sd1" else "SDXL"), f"{res}px", f"b{batch}", "ckpt" if ckpt else "no ckpt", opt]
    if fp8:
        parts.append("fp8")
    if extra.get("network_train_unet_only"):
        parts.append("unet only")
    return " ".join(parts)


def make_models(work: Path, families, smoke: bool) -> dict:
    """``{family: checkpoint}`` in ``work``, made when missing: full-size with random weights, or the tiny
    test model with ``smoke`` (the benches name them alike, so one --work folder serves them all). Written
    under a ``.partial`` name and renamed when complete: a bench stopped while writing leaves no file that a
    later run would take for a finished model."""
    out = {}
    for fam in families:
        path = work / f"{fam}{'-tiny' if smoke else ''}.safetensors"
        if not path.exists():
            t = time.perf_counter()
            partial = path.with_name(path.stem + ".partial" + path.suffix)
            if smoke:
                from trainer.models.tiny import make_tiny_checkpoint

                make_tiny_checkpoint(partial, fam)
            else:
                from trainer.models.fullsize import write_full_size_checkpoint

                print(f"writing a random-weight full-size {fam} checkpoint to {path} (once)", flush=True)
                write_full_size_checkpoint(partial, fam, weights=True)
            partial.replace(path)
            print(f"made {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.0f} s",
                  flush=True)
        out[fam] = path
    return out


def make_data(root: Path, size: int) -> Path:
    """8 images of the largest size trained, with captions (one bucket at every resolution here)."""
    from PIL import Image, ImageDraw

    d = root / "4_cal"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        im = Image.new("RGB", (size, size), (40 * i % 255, 120, 200))
        ImageDraw.Draw(im).ellipse([size // 8, size // 8, size // 2 + 20 * i, size // 2], fill=(220, 40, 40))
        im.save(d / f"img{i}.png")
        (d / f"img{i}.txt").write_text(f"cal, red circle, tag{i}\n", encoding="utf-8")
    return root


# ----------------------------------------------------------------------------------------- one family (child)
def child(rows_json: str) -> int:
    """Train the rows of one model family in this process; print one JSON line per row: the peak allocated /
    reserved bytes of its training steps (peak statistics reset when its steps start, after caching), it/s.

    The model is read and built once; each row trains a fresh deep copy of it (the trainer casts, moves and
    hooks the one it gets), and everything of the previous row is freed before the next one starts: what is
    still allocated then is printed (leftover) and taken off that row's peak."""
    import copy
    import gc

    import torch

    from trainer import events as ev
    from trainer.config.fields import TrainConfig
    from trainer.models import loader
    from trainer.run.trainer import Trainer

    rows = json.loads(rows_json)
    cuda = torch.cuda.is_available()
    t = time.perf_counter()
    first = TrainConfig(**rows[0][1])
    pristine = loader.load_base_model(first.pretrained_model_name_or_path)
    print(json.dumps({"loaded_s": time.perf_counter() - t}), flush=True)
    loader.load_base_model = lambda *a, **k: copy.deepcopy(pristine)
    for index, cfg_dict in rows:
        gc.collect()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        leftover = torch.cuda.memory_allocated() if cuda else 0
        times, failed = [], []

        def on_event(e):
            if isinstance(e, ev.Started) and cuda:  # caching is over: measure the training steps only
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            elif isinstance(e, ev.Step):
                times.append(time.perf_counter())
            elif isinstance(e, ev.Failed):
                failed.append(e.message)

        try:
            Trainer(TrainConfig(**cfg_dict), on_event).run()
        except Exception as e:  # an OOM row must not stop the others
            if not failed:
                failed.append(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}")
        skip = min(2, max(len(times) - 2, 0))
        rate = (len(times) - 1 - skip) / (times[-1] - times[skip]) if len(times) - skip >= 2 else None
        print(json.dumps({"row": index, "leftover": leftover,
                          "allocated": torch.cuda.max_memory_allocated() - leftover if cuda else None,
                          "reserved": torch.cuda.max_memory_reserved() if cuda else None,
                          "it_per_s": rate, "steps": len(times), "failed": failed}), flush=True)
    return 0


def run_family(rows: list) -> dict:
    """rows: [(index, TrainConfig)] of one family -> {index: result}, from one child process."""
    import dataclasses

    arg = json.dumps([(i, dataclasses.asdict(cfg)) for i, cfg in rows])
    proc = subprocess.run([sys.executable, __file__, "--child", arg], capture_output=True, text=True, cwd=ROOT)
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            if "row" in r:
                out[r["row"]] = r
            else:
                print(f"model read and built once in {r['loaded_s']:.1f} s", flush=True)
    why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {i: out.get(i, {"failed": [why]}) for i, _ in rows}


# ----------------------------------------------------------------------------------------- the table
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--only", default="", help="comma-separated row numbers (1-based)")
    ap.add_argument("--work", default="", help="folder for the checkpoints and data (kept; default: a temp folder)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "vram_calibration.md"))
    ap.add_argument("--smoke", action="store_true", help="no GPU: run the harness on the tiny model on CPU")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child)

    import torch

    from trainer.vram import estimate

    if not torch.cuda.is_available() and not args.smoke:
        print("No CUDA GPU: calibration needs an NVIDIA GPU (see trainer/vram/calibration.py: pending). "
              "--smoke runs the harness on CPU.")
        return 2
    rows = [(i, r) for i, r in enumerate(CONFIGS, 1)
            if not args.only or str(i) in args.only.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="vram_cal_"))
    work.mkdir(parents=True, exist_ok=True)
    models = make_models(work, sorted({r[0] for _, r in rows}), args.smoke)
    data = make_data(work / "data", 64 if args.smoke else max(r[1] for _, r in rows))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (smoke run: nothing measured)"
    lines = [f"VRAM estimate vs torch.cuda.max_memory_allocated, {args.steps} steps each, on {gpu}",
             f"(torch {torch.__version__}; `python bench/vram_calibration.py`)", "",
             "| # | configuration | estimate GiB | measured GiB | error % | reserved GiB | it/s |",
             "|---|---|---|---|---|---|---|"]
    errors, under = [], []
    print("\n".join(lines), flush=True)
    cfgs = {i: config_for(row, models[row[0]], data, work / f"out{i}", args.steps, args.smoke) for i, row in rows}
    results = {}
    for fam in sorted({r[0] for _, r in rows}):  # one process per family: the model is read once
        results.update(run_family([(i, cfgs[i]) for i, r in rows if r[0] == fam]))
    for i, row in rows:
        cfg = cfgs[i]
        est = estimate(cfg)
        r = results[i]
        if r.get("failed"):
            line = f"| {i} | {label(row)} | {est.allocated_bytes / GiB:.2f} | failed: {r['failed'][0][:80]} | | | |"
        else:
            meas = r["allocated"]
            err = 100 * (est.allocated_bytes - meas) / meas if meas else None
            if err is not None:
                errors.append(abs(err))
                if err < -5:
                    under.append(i)
            fmt = lambda v, p=2: "—" if v is None else f"{v:.{p}f}"  # noqa: E731
            line = (f"| {i} | {label(row)} | {est.allocated_bytes / GiB:.2f} | {fmt(meas and meas / GiB)} | "
                    f"{fmt(err, 1)} | {fmt(r['reserved'] and r['reserved'] / GiB)} | {fmt(r['it_per_s'])} |")
        lines.append(line)
        print(line, flush=True)
    if errors:
        summary = (f"largest error {max(errors):.1f} %, mean {sum(errors) / len(errors):.1f} %, more than 5 % under: "
                   f"{', '.join(map(str, under)) or 'none'} (goal: every row within 10 %, none 5 % under)")
    else:
        summary = "nothing measured"
    lines += ["", summary]
    print(summary)
    if not args.smoke:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
