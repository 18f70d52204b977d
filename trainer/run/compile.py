"""torch.compile of the parts trained every step (sd-scripts' torch_compile and dynamo_backend).

The UNet is compiled, and the text encoders when they are trained (frozen ones run once per caption at most).
Shapes: a run with few (bucket, batch size) shapes gets one static graph per shape - static shapes give the
fastest kernels and are what CUDA graphs need - with dynamo's recompile limit raised so no bucket falls back to
eager. A run with more shapes than that gets one graph with dynamic sizes instead, so a bucket change does not
recompile. Graphs are built lazily, at the first step of each shape: that step is slower."""
from __future__ import annotations

from trainer import events as ev

STATIC_SHAPES_UP_TO = 8  # (bucket, batch size) pairs; more get one dynamic graph


def step_shapes(plan) -> int:
    """How many input shapes the steps can have: per bucket of each [[datasets]] (each cutting its own
    batches), full batches and possibly one smaller."""
    shapes = set()
    for size, buckets in plan.datasets:
        for bucket, count in buckets.items():
            shapes.add((bucket, min(size, count)))
            if count % size and count > size:
                shapes.add((bucket, count % size))
    return max(1, len(shapes))


def compile_step_model(model, cfg, plan, emit) -> None:
    if not cfg.torch_compile:
        return
    import torch
    import torch._dynamo as dynamo

    shapes = step_shapes(plan)
    dynamic = shapes > STATIC_SHAPES_UP_TO
    if not dynamic:
        dynamo.config.recompile_limit = max(dynamo.config.recompile_limit, shapes + 1)
    backend = cfg.dynamo_backend
    if backend == "inductor" and next(model.unet.parameters()).device.type == "cpu":
        # inductor's CPU code (torch 2.13) leaves some LoRA layers without gradients (docs/traps.md);
        # aot_eager traces the same graphs and trains like eager
        backend = "aot_eager"
        emit(ev.Log("torch.compile: inductor gives wrong LoRA gradients on the CPU with this torch; using "
                    "aot_eager there.", "warning"))
    kw = {"backend": backend, "dynamic": dynamic}
    model.unet = torch.compile(model.unet, **kw)
    if model.train_te:
        model.tes = [torch.compile(te, **kw) for te in model.tes]
    parts = "UNet and text encoder" + ("s" if len(model.tes) > 1 else "") if model.train_te else "UNet"
    how = "one graph with dynamic sizes" if dynamic else f"one graph per shape ({shapes})"
    emit(ev.Log(f"torch.compile ({backend}) of the {parts}: {how}; the first step of each shape "
                "compiles and takes longer."))
