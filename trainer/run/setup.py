"""Getting a run ready: base-model precision/device/checkpointing, latent and text-encoder caches, the
trained network and its optimizer. Each step reports through `emit` (plain events, see trainer.events)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer import events as ev
from trainer.errors import ConfigError


def _cast(module, dtype) -> None:
    """Cast only when needed: diffusers warns on every .to(dtype), even a no-op one."""
    if next(module.parameters()).dtype != dtype:
        module.to(dtype=dtype)


def prepare_models(base, cfg, rt, train_te: bool, emit):
    """Freeze the base model, put each part in its precision and on its device -> StepModel."""
    from trainer.run.loss import make_noise_scheduler
    from trainer.run.step import StepModel

    if cfg.base_weights:  # before any cast: merged in float32 on the CPU
        from trainer.run.base_weights import merge_base_weights

        merge_base_weights(base, cfg.base_weights, cfg.base_weights_multiplier, emit)
    base.unet.requires_grad_(False)
    base.vae.requires_grad_(False)
    for te in base.text_encoders:
        te.requires_grad_(False)
    if cfg.fp8_base or cfg.fp8_base_unet:
        from trainer.models.fp8 import cast_to_fp8

        cast_to_fp8(base.unet, rt.weight_dtype)
    else:
        _cast(base.unet, rt.weight_dtype)
    base.unet.to(rt.device)
    _cast(base.vae, torch.float32)  # the VAE overflows in fp16; sd-scripts keeps it in fp32 too
    if not (cfg.cache_latents or cfg.cache_latents_to_disk):
        base.vae.to(rt.device)  # encodes every batch; with cached latents it stays off the GPU
    te_dtype = torch.float32 if train_te else rt.weight_dtype
    for te in base.text_encoders:
        _cast(te, te_dtype)
        te.to(rt.device)
    if cfg.gradient_checkpointing:
        base.unet.enable_gradient_checkpointing()
        base.unet.train()
        if train_te:
            for te in base.text_encoders:
                te.gradient_checkpointing_enable()
                te.train()
    else:
        base.unet.eval()
        for te in base.text_encoders:
            te.eval()
    if cfg.xformers:  # PyTorch SDPA is diffusers' default; xformers only when asked for and installed
        try:
            base.unet.enable_xformers_memory_efficient_attention()
            emit(ev.Log("Using xformers attention."))
        except Exception as e:  # xformers missing or built for another torch: SDPA is as good
            emit(ev.Log(f"xformers is not usable here ({str(e)[:120]}); using PyTorch SDPA.", "warning"))
    sched = make_noise_scheduler(base.prediction_type, cfg.zero_terminal_snr)
    return StepModel(base, cfg, rt, sched, train_te=train_te)


def cache_latents_into(data, base, cfg, rt, emit, stop) -> None:
    from trainer.run.caching import cache_latents

    emit(ev.Log(f"Caching latents of {len(data.items)} images"))
    # the VAE's sampling draws from the global generators only for images not cached on disk yet; forked, so
    # the LoRA's initial weights and the noise after it are the seed's whether or not the cache existed
    with torch.random.fork_rng(devices=[rt.device] if rt.device.type == "cuda" else []):
        latents, crops, failed = cache_latents(data, base.vae, base.family, rt.device,
                                               to_disk=cfg.cache_latents_to_disk,
                                               batch_size=cfg.vae_batch_size, stop=stop)
    for reason in failed:
        emit(ev.Log(f"Skipped: {reason}", "warning"))
    data.bad = {i for i, z in enumerate(latents) if z is None}
    data.latents = latents
    data.cached_crops = crops
    base.vae.to("cpu")  # not needed on the GPU any more
    if rt.device.type == "cuda" and not cfg.highvram:  # highvram: keep the allocator's cache, as sd-scripts
        torch.cuda.empty_cache()


def cache_text_into(model, data, base, cfg, rt, emit, stop=None) -> None:
    from trainer.run.caching import cache_text_outputs

    emit(ev.Log("Caching text-encoder outputs"))
    with torch.no_grad(), rt.autocast():
        model.te_cache = cache_text_outputs(
            data, model.encode_captions, f"{cfg.pretrained_model_name_or_path}|{base.family}",
            to_disk=cfg.cache_text_encoder_outputs_to_disk, max_token_length=cfg.max_token_length,
            clip_skip=cfg.clip_skip, stop=stop, batch_size=cfg.text_encoder_batch_size or cfg.train_batch_size)
    for te in base.text_encoders:
        te.to("cpu")


def trained_network(base, cfg, rt, train_te: bool, emit):
    """The network hooked into the base model, optionally continued from network_weights."""
    from trainer.network.build import build_network

    net_cfg = cfg if train_te else cfg.replace(network_train_unet_only=True)
    sd = None
    if cfg.network_weights:
        from trainer.network.lora_file import load_lora

        sd, _ = load_lora(cfg.network_weights)
        if cfg.dim_from_weights:  # rank and alpha of the file, like sd-scripts' create_network_from_weights
            dim = max(t.shape[0] for k, t in sd.items() if k.endswith("lora_down.weight"))
            alpha = next((float(t) for k, t in sd.items() if k.endswith(".alpha")), cfg.network_alpha)
            net_cfg = net_cfg.replace(network_dim=dim, network_alpha=alpha)
            emit(ev.Log(f"network_dim {dim} and network_alpha {alpha:g} taken from {cfg.network_weights}"))
    network = build_network(net_cfg, base.unet, base.text_encoders)
    if sd is not None:
        if base.family == "sdxl":
            from trainer.models.lora_names import SdxlRenamer
            from trainer.network.naming import rename_modules

            sd = rename_modules(sd, SdxlRenamer(base.unet, to_original=False))
        try:
            _, unexpected = network.load_state_dict(sd)
        except RuntimeError as e:  # torch: size mismatch
            raise ConfigError(f"network_weights {cfg.network_weights} has another rank or layout than these "
                              f"settings ({str(e).splitlines()[-1].strip()[:160]}); set dim_from_weights.") from None
        if unexpected:
            raise ConfigError(f"network_weights {cfg.network_weights} does not fit these network settings: "
                              f"{len(unexpected)} tensors have no place, for example {unexpected[0]}.")
        emit(ev.Log(f"Continuing from {cfg.network_weights}"))
    dtype = torch.bfloat16 if cfg.full_bf16 else torch.float16 if cfg.full_fp16 else torch.float32
    network.to(rt.device, dtype=dtype)
    network.train()
    emit(ev.Log(f"Network: {len(network.unet_modules)} UNet modules, {len(network.te_modules)} text-encoder modules"))
    return network


@dataclass
class Optimization:
    optimizer: object
    scheduler: object
    description: str          # ss_optimizer
    group_names: list[str]    # unet, textencoder: the names lrs are reported under


def optimization(network, cfg, total_steps: int, emit) -> Optimization:
    from trainer.optim.optimizers import build_optimizer
    from trainer.optim.schedulers import build_scheduler

    groups = network.param_groups(cfg.learning_rate, cfg.unet_lr, cfg.text_encoder_lr)
    built = build_optimizer(cfg.optimizer_type, groups, cfg.learning_rate, cfg.optimizer_args,
                            lr_scheduler=cfg.lr_scheduler, max_grad_norm=cfg.max_grad_norm)
    for w in built.warnings:
        emit(ev.Log(w, "warning"))
    # one scheduler step per optimizer step in every process, so num_processes stays 1 here
    sched = build_scheduler(built.optimizer, lr_scheduler=built.lr_scheduler_override or cfg.lr_scheduler,
                            num_training_steps=total_steps, lr_warmup_steps=cfg.lr_warmup_steps,
                            lr_scheduler_num_cycles=cfg.lr_scheduler_num_cycles,
                            lr_scheduler_power=cfg.lr_scheduler_power, lr_scheduler_type=cfg.lr_scheduler_type,
                            lr_scheduler_args=cfg.lr_scheduler_args, lr_decay_steps=cfg.lr_decay_steps,
                            lr_scheduler_timescale=cfg.lr_scheduler_timescale,
                            lr_scheduler_min_lr_ratio=cfg.lr_scheduler_min_lr_ratio)
    return Optimization(built.optimizer, sched, built.description, [g["name"] for g in groups])
