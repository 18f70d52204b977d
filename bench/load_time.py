"""Reading and building full-size SD 1.5 from a single-file checkpoint: our loader against the plain way.

    python bench/load_time.py [--runs 3] [--work DIR] [--dtype fp32|bf16]

Ours: trainer.models.loader.load_base_model on a random-weight, original-layout SD 1.5 .safetensors (fp16,
written by trainer/models/fullsize.py): read, detect, convert the key names, build UNet, VAE and text encoder.
Plain: the same tensors already in diffusers/transformers layout (one .safetensors per part, written once from
our result), `safetensors.torch.load_file` + `load_state_dict` into the same modules (built on the meta device
and allocated with to_empty, in the same dtype). Runs alternate; medians. Ends with `ratio: <ours/plain>`
(goal <= 1.5). The files (about 4 GB) stay in --work for the next run.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def ours(path: Path, dtype) -> float:
    from trainer.models.loader import load_base_model

    t = time.perf_counter()
    base = load_base_model(path, dtype=dtype)
    spent = time.perf_counter() - t
    del base
    gc.collect()
    return spent


def _parts_from(path: Path, work: Path) -> list[Path]:
    """Our model's parts written in their libraries' own layouts (fp16), once."""
    from safetensors.torch import save_file

    from trainer.models.loader import load_base_model

    files = [work / "unet.safetensors", work / "vae.safetensors", work / "te.safetensors"]
    if all(f.exists() for f in files):
        return files
    base = load_base_model(path, dtype=torch.float16)
    for f, m in zip(files, [base.unet, base.vae, base.text_encoders[0]]):
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(f))
    return files


def plain(files: list[Path], dtype) -> float:
    from safetensors.torch import load_file

    from trainer.models.fullsize import full_size_models

    t = time.perf_counter()
    unet, vae, (te,) = full_size_models("sd1")  # on the meta device: no init cost, like ours
    for f, m in zip(files, [unet, vae, te]):
        m.to_empty(device="cpu")
        m.to(dtype)
        m.load_state_dict(load_file(str(f)), strict=False)
    spent = time.perf_counter() - t
    del unet, vae, te
    gc.collect()
    return spent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "lora_desk_load_bench")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    a = ap.parse_args(argv)
    from trainer.models.fullsize import write_full_size_checkpoint

    a.work.mkdir(parents=True, exist_ok=True)
    ckpt = a.work / "sd15-random.safetensors"
    if not ckpt.exists():
        print("writing a random-weight full-size SD 1.5 checkpoint (once)...", flush=True)
        write_full_size_checkpoint(ckpt, "sd1", weights=True)
    files = _parts_from(ckpt, a.work)
    dtype = DTYPES[a.dtype]
    ours(ckpt, dtype), plain(files, dtype)  # warm the page cache and the imports
    o, p = [], []
    for _ in range(a.runs):
        o.append(ours(ckpt, dtype))
        p.append(plain(files, dtype))
    mo, mp = statistics.median(o), statistics.median(p)
    print(f"ours (read + convert + build, {a.dtype}): {mo:.2f} s   plain load_file + load_state_dict: {mp:.2f} s "
          f"(median of {a.runs})")
    print(f"ratio: {mo / mp:.2f} (goal <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
