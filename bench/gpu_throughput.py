"""Training speed on a GPU: our Trainer against a bare diffusers + peft LoRA loop doing the same work, in one run.

    python bench/gpu_throughput.py [--steps 20] [--only 1,3] [--work DIR] [--no-compile]
    python bench/gpu_throughput.py --smoke        # the same harness on the tiny models on CPU (a test runs it)

Configurations (full-size random-weight models written by trainer/models/fullsize.py, 8 cached images, LoRA
rank 32 on the attention, feed-forward and proj layers, bf16 frozen base, fp32 LoRA, autocast, SDPA, gradient
checkpointing, torch AdamW, cached latents and text-encoder outputs, text encoders not trained):
SD 1.5 512 px batch 4, SDXL 1024 px batch 4, SDXL 1024 px batch 1, and SD 1.5 512 px batch 4 with
torch_compile (ours only; the bare loop stays eager: the goal there is 1.5x its speed).
Per configuration it prints it/s of each and `ratio: <ours/bare>` (>= 1 is faster than the bare loop), model
FLOPs per step (FlopCounterMode on the bare UNet's forward + backward without checkpointing's recompute), MFU
(GPU only, against the card's dense bf16 peak), peak memory of each, and our time from Trainer.run() to the
end of the first step split into phases (bench/phases.py). On an H200 the whole run takes about 5 minutes.
"""
from __future__ import annotations

import argparse
import copy
import gc
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bare_step import bare_optimizer, bare_step, bare_unet  # noqa: E402
from phases import PhaseTimer, process_age  # noqa: E402

import torch  # noqa: E402

IMPORTS_S = None  # process start to here, filled in main()
RANK = 32
# (label, family, resolution, batch, torch_compile)
CONFIGS = [
    ("SD 1.5 512px b4", "sd1", 512, 4, False),
    ("SDXL 1024px b4", "sdxl", 1024, 4, False),
    ("SDXL 1024px b1", "sdxl", 1024, 1, False),
    ("SD 1.5 512px b4 torch_compile", "sd1", 512, 4, True),
]
SMOKE = [("tiny SD 1.x 64px b2", "sd1", 64, 2, False), ("tiny SDXL 64px b1", "sdxl", 64, 1, False)]
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "H800": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
             "RTX 4090": 165e12, "RTX 3090": 71e12, "A10": 125e12}


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _reset_memory():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def _rate(times: list[float], skip: int) -> float:
    skip = min(skip, len(times) - 2)
    return (len(times) - 1 - skip) / (times[-1] - times[skip])


def ours(model: Path, data: Path, out: Path, res: int, batch: int, steps: int, compile_: bool, smoke: bool):
    from trainer import events as ev
    from trainer.config.fields import TrainConfig
    from trainer.run.trainer import Trainer

    cfg = TrainConfig(pretrained_model_name_or_path=str(model), train_data_dir=str(data), output_dir=str(out),
                      output_name="bench", resolution=f"{res},{res}", train_batch_size=batch,
                      max_train_steps=steps, network_module="networks.lora", network_dim=RANK,
                      network_alpha=float(RANK), learning_rate=1e-4, optimizer_type="AdamW",
                      lr_scheduler="constant", mixed_precision="no" if smoke else "bf16",
                      gradient_checkpointing=True, cache_latents=True, cache_text_encoder_outputs=True,
                      network_train_unet_only=True, max_data_loader_n_workers=0, seed=1, max_grad_norm=1.0,
                      torch_compile=compile_, save_precision="bf16")
    times = []
    _reset_memory()
    with PhaseTimer() as phases:
        Trainer(cfg, lambda e: times.append(time.perf_counter()) if isinstance(e, ev.Step) else None).run()
    return _rate(times, 5 if not compile_ else 8), _peak(), phases


def bare_inputs(unet, family, batch, res, device):
    lat = res // 8
    dim = unet.config.cross_attention_dim
    latents = torch.randn(batch, 4, lat, lat, device=device)
    states = torch.randn(batch, 77, dim, device=device)
    added = None
    if family == "sdxl":
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        added = {"text_embeds": torch.randn(batch, pooled, device=device),
                 "time_ids": torch.tensor([[res, res, 0, 0, res, res]] * batch, dtype=torch.float32, device=device)}
    return latents, states, added


def bare(base, family: str, res: int, batch: int, steps: int, smoke: bool):
    """The loop of diffusers' train_text_to_image_lora.py reduced to its step: random latents and text states
    on the device, bf16 frozen UNet, fp32 LoRA, autocast, gradient checkpointing, AdamW, grad clipping."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    _reset_memory()
    unet = bare_unet(base, RANK)
    if not smoke:
        for n, p in unet.named_parameters():
            if not p.requires_grad:
                p.data = p.data.to(torch.bfloat16)
    unet.to(device)
    unet.enable_gradient_checkpointing()
    unet.train()
    params, opt, sched = bare_optimizer(unet, base)
    latents, states, added = bare_inputs(unet, family, batch, res, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=not smoke)
    times = []
    for _ in range(steps):
        bare_step(unet, sched, latents, states, params, opt, added=added, autocast=autocast)
        times.append(time.perf_counter())
    _sync()
    times[-1] = time.perf_counter()
    rate, peak = _rate(times, 5), _peak()
    flops = step_flops(unet, sched, latents, states, added, autocast)
    return rate, peak, flops


def step_flops(unet, sched, latents, states, added, autocast) -> float:
    """Model FLOPs of one step: forward + backward, checkpointing off so recompute is not counted."""
    from torch.utils.flop_counter import FlopCounterMode

    unet.disable_gradient_checkpointing()
    counter = FlopCounterMode(display=False)
    t = torch.randint(0, 1000, (latents.shape[0],), device=latents.device)
    with counter:
        with autocast:
            pred = unet(sched.add_noise(latents, torch.randn_like(latents), t), t, states,
                        added_cond_kwargs=added).sample
        pred.float().square().mean().backward()
    unet.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def main(argv=None) -> int:
    global IMPORTS_S
    IMPORTS_S = process_age()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated configuration numbers (1-based)")
    ap.add_argument("--work", default="", help="folder for models and data (kept; default: a temp folder)")
    ap.add_argument("--no-compile", action="store_true", help="leave out the torch_compile configuration")
    ap.add_argument("--smoke", action="store_true", help="tiny models on CPU: checks the harness")
    a = ap.parse_args(argv)
    from vram_calibration import make_data, make_models

    from trainer.models.loader import load_base_model

    configs = SMOKE if a.smoke else [c for c in CONFIGS if not (a.no_compile and c[4])]
    chosen = [(i, c) for i, c in enumerate(configs, 1) if not a.only or str(i) in a.only.split(",")]
    work = Path(a.work or tempfile.mkdtemp(prefix="gpu_throughput_"))
    work.mkdir(parents=True, exist_ok=True)
    models = make_models(work, sorted({c[1] for _, c in chosen}), a.smoke)
    data = make_data(work / "data", max(c[2] for _, c in chosen))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (smoke: no MFU)"
    print(f"{device}, torch {torch.__version__}; imports {IMPORTS_S:.1f} s; {a.steps} steps per run", flush=True)
    peak = peak_flops()
    pristine = {}
    for i, (label, fam, res, batch, compile_) in chosen:
        o_rate, o_mem, phases = ours(models[fam], data, work / f"out{i}", res, batch, a.steps, compile_, a.smoke)
        if fam not in pristine:
            pristine[fam] = load_base_model(models[fam])
        b_rate, b_mem, flops = bare(copy.deepcopy(pristine[fam]), fam, res, batch, a.steps, a.smoke)
        mfu = lambda r: f"{100 * flops * r / peak:.1f} %" if peak else "n/a"  # noqa: E731
        mem = lambda m: f"{m:.2f} GiB" if m is not None else "n/a"  # noqa: E731
        print(f"[{i}] {label}: ours {o_rate:.2f} it/s, bare {b_rate:.2f} it/s; {flops / 1e12:.3f} TFLOP/step ({flops:.3e} FLOP); "
              f"MFU ours {mfu(o_rate)}, bare {mfu(b_rate)}; peak memory ours {mem(o_mem)}, bare {mem(b_mem)}")
        print(f"[{i}] start-up: {phases.describe()} (Trainer.run() to the end of the first step)")
        print(f"ratio: {o_rate / b_rate:.3f}", flush=True)
        gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
