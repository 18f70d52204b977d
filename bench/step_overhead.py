"""Our training step against a bare diffusers + peft LoRA loop on the same tiny SD 1.x model, same LoRA
targets and rank, same optimizer, same batch (cached latents and text states in both), in one process.

    python bench/step_overhead.py [--steps 40] [--rounds 3]

Prints seconds per step of each and the ratio ours / bare (goal <= 1.05). Runs alternate to share noise."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from bare_step import bare_optimizer, bare_step, bare_unet  # noqa: E402


def ours(model, data, out, steps) -> float:
    from conftest import quick_config

    from trainer import events as ev
    from trainer.run.trainer import Trainer

    times = []
    cfg = quick_config(model, data, out, max_train_steps=steps, train_batch_size=2, network_dim=4,
                       network_alpha=4.0, cache_latents=True, cache_text_encoder_outputs=True,
                       network_train_unet_only=True, learning_rate=1e-4)
    Trainer(cfg, lambda e: times.append(time.perf_counter()) if isinstance(e, ev.Step) else None).run()
    return (times[-1] - times[4]) / (len(times) - 5)  # skip warm-up steps


def bare(model, steps) -> float:
    """The loop of diffusers' train_text_to_image_lora.py, reduced to its step."""
    from trainer.models.loader import load_base_model

    torch.manual_seed(0)
    base = load_base_model(model)
    unet = bare_unet(base, 4)
    params, opt, sched = bare_optimizer(unet, base)
    latents = torch.randn(2, 4, 8, 8)
    states = torch.randn(2, 77, unet.config.cross_attention_dim)
    times = []
    for _ in range(steps):
        bare_step(unet, sched, latents, states, params, opt)
        times.append(time.perf_counter())
    return (times[-1] - times[4]) / (len(times) - 5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    from conftest import make_dataset

    from trainer.models.tiny import make_tiny_checkpoint

    tmp = Path(tempfile.mkdtemp())
    model = make_tiny_checkpoint(tmp / "tiny.safetensors", family="sd1")
    data = make_dataset(tmp / "data", {"1_a": 4})
    o, b = [], []
    for r in range(a.rounds):
        o.append(ours(model, data, tmp / f"out{r}", a.steps))
        b.append(bare(model, a.steps))
    mo, mb = statistics.median(o), statistics.median(b)
    print(f"ours: {mo * 1000:.1f} ms/step  bare diffusers+peft: {mb * 1000:.1f} ms/step  "
          f"ratio ours/bare: {mo / mb:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
