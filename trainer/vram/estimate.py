"""The estimate itself: weights, trained parameters, optimizer state, activations, overhead."""
from __future__ import annotations

import math
from pathlib import Path

from ..errors import ConfigError, ModelError
from trainer.config.plan import resolve
from .activations import te_activation_bytes, unet_activation_bytes, vae_encode_bytes
from .calibration import (ALLOCATOR_FRAGMENTATION, CUDA_CONTEXT_BYTES, FP32_NORM, LIBRARY_WORKSPACE_BYTES,
                          TOKENS_PER_CHUNK)
from .model import ModelInfo, _numel, analyze_model, read_header_shapes
from .network import network_tensors
from .optimizer import optimizer_key, optimizer_state_bytes
from .report import Estimate, Part

# ------------------------------------------------------------------------------------------------ estimate


def _precision(name: str) -> str:
    return {2: "bf16/fp16", 4: "fp32", 1: "fp8"}.get(name, str(name))


def _separate_vae_numel(path) -> int | None:
    """Parameters of a separate VAE .safetensors file (``vae`` setting), or None to use the checkpoint's."""
    if not path or Path(path).suffix.lower() != ".safetensors" or not Path(path).is_file():
        return None
    try:
        shapes = read_header_shapes(path)
    except ModelError:
        return None
    return sum(_numel(v[0]) for k, v in shapes.items() if not k.startswith(("model.", "cond_stage", "conditioner")))


def estimate(cfg, *, info: ModelInfo | None = None, attention: str | None = None) -> Estimate:
    """Peak GPU memory of training ``cfg`` (a TrainConfig). ``info`` skips reading the model file.

    ``attention``: "sdpa" (memory-efficient SDPA or xformers; what the trainer uses) or "naive" (quadratic
    attention matrices, for comparison). Raises ConfigError/ModelError with a sentence for bad input.
    With a dataset config, at its datasets' resolution and batch size: the largest peak of them.
    """
    if info is None:
        if not cfg.pretrained_model_name_or_path:
            raise ConfigError("Choose a base model (pretrained_model_name_or_path) to estimate GPU memory.")
        info = analyze_model(cfg.pretrained_model_name_or_path)
    cfgs = _dataset_cfgs(cfg)
    if len(cfgs) == 1:
        return _estimate_one(cfgs[0], info, attention)
    every = [_estimate_one(c, info, attention) for c in cfgs]
    top = max(every, key=lambda est: est.peak_bytes)
    top.notes.append(f"The largest of the dataset config's {len(cfgs)} datasets: {top.resolution[0]}x"
                     f"{top.resolution[1]}, batch size {top.batch_size}.")
    return top


def _dataset_cfgs(cfg) -> list:
    """cfg per [[datasets]] of its dataset config ([cfg] without one, or when it cannot be read: the check
    of the settings names that)."""
    from trainer.dataset.config_file import dataset_configs
    from trainer.errors import UserError

    try:
        return dataset_configs(cfg)
    except UserError:
        return [cfg]


def _estimate_one(cfg, info: ModelInfo, attention: str | None) -> Estimate:
    from trainer.config.validate import parse_resolution

    try:
        width, height = parse_resolution(cfg.resolution)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    batch = max(1, int(cfg.train_batch_size or 1))
    attention = (attention or "sdpa").lower()
    if attention not in ("sdpa", "xformers", "naive"):
        raise ConfigError(f"attention must be sdpa, xformers or naive, not '{attention}'.")
    naive = attention == "naive"

    mp = cfg.mixed_precision if cfg.mixed_precision in ("fp16", "bf16") else "no"
    e = 2 if mp != "no" else 4  # compute / frozen-weight dtype bytes
    f = FP32_NORM if mp != "no" else 4
    notes = []
    fp8 = cfg.fp8_base or cfg.fp8_base_unet  # both keep only the UNet in fp8 here
    if fp8 and mp == "no":
        notes.append("fp8_base needs mixed_precision bf16 or fp16; estimated as if bf16 were set.")
        e = 2
        f = FP32_NORM
    plan = resolve(cfg)  # what trains and what is cached, as the trainer decides it
    cache_te, cache_lat = plan.cache_text_encoder_outputs, plan.cache_latents
    train_te, train_unet = plan.train_text_encoder, plan.train_unet
    p = 2 if (cfg.full_bf16 or cfg.full_fp16) else 4

    # --- weights
    parts: list[Part] = []
    if fp8:  # trainer.models.fp8: Linear/Conv weights and biases in fp8, norms in the compute dtype
        unet_b = info.unet_linear_conv_numel + (info.unet_numel - info.unet_linear_conv_numel) * e
    else:
        unet_b = info.unet_numel * e
    parts.append(Part("unet_weights", f"UNet weights ({'fp8' if fp8 else _precision(e)})", unet_b,
                      "weights", f"{info.unet_numel / 1e6:.0f} M parameters"))
    te_numel = sum(info.te_numel)
    if cache_te:
        te_b, te_note = 0, "outputs cached; encoders moved to the CPU"
    else:
        te_b = te_numel * (4 if train_te else e)
        te_note = f"{te_numel / 1e6:.0f} M parameters, {'trained (fp32)' if train_te else 'frozen'}"
    parts.append(Part("text_encoder_weights", "text encoder weights", te_b, "weights", te_note))
    vae_numel = _separate_vae_numel(cfg.vae) or info.vae_numel
    vae_b = 0 if cache_lat else vae_numel * 4
    parts.append(Part("vae_weights", "VAE weights (fp32)", vae_b, "weights",
                      "latents cached; VAE moved to the CPU" if cache_lat else f"{vae_numel / 1e6:.0f} M parameters"))

    # --- trainable parameters
    shapes, modules, conv_lora = network_tensors(info, cfg, train_unet, train_te)
    n_params = sum(_numel(s) for s in shapes)
    parts.append(Part("lora_weights", f"LoRA weights ({'fp32' if p == 4 else 'bf16/fp16'})", n_params * p, "training",
                      f"{n_params / 1e6:.2f} M parameters"))
    parts.append(Part("lora_grads", "LoRA gradients", n_params * p, "training"))
    opt_b, opt_note = optimizer_state_bytes(cfg.optimizer_type, shapes, p, cfg.optimizer_args,
                                            zero_init=not cfg.network_weights)
    parts.append(Part("optimizer_state", f"optimizer state ({optimizer_key(cfg.optimizer_type) or cfg.optimizer_type})",
                      opt_b, "training", opt_note))
    if opt_note:
        notes.append(opt_note)
    if str(getattr(cfg, "ema", "off")).lower() == "gpu":  # trainer.run.ema: an fp32 copy of the trained weights
        parts.append(Part("ema_weights", "EMA of the LoRA weights (fp32)", n_params * 4, "training",
                          "ema = cpu keeps it off the GPU"))
    parts.append(Part("nan_guard", "copy of the LoRA weights (NaN guard)", n_params * p, "training",
                      "kept while a step's loss is read without waiting (trainer/run/step_stats.py)"))
    if mp != "no" and p == 4:
        parts.append(Part("autocast_copies", "autocast half copies of LoRA weights", n_params * 2, "training"))

    # --- activations (transient)
    chunks = max(1, math.ceil((cfg.max_token_length or 75) / 75))
    ctx_tokens = TOKENS_PER_CHUNK * chunks
    ckpt = bool(cfg.gradient_checkpointing)
    act_parts = [Part("unet_activations", f"UNet activations ({'checkpointed' if ckpt else 'all saved'}, "
                      f"{'naive' if naive else 'SDPA'} attention)",
                      unet_activation_bytes(info.spec, width, height, batch, e=e, f=f, checkpointing=ckpt,
                                            naive_attention=naive, context_tokens=ctx_tokens, conv_lora=conv_lora),
                      "activations")]
    if train_te:
        act_parts.append(Part("text_encoder_activations", "text encoder activations",
                              te_activation_bytes(info.spec.text_encoders, ctx_tokens, batch * 1, e=e, f=f,
                                                  checkpointing=ckpt), "activations",
                              f"{ctx_tokens} tokens per caption"))
    if fp8:
        copies = (info.ckpt_unit_max_numel + info.unet_unckpt_numel) if ckpt else info.unet_matrix_numel
        act_parts.append(Part("fp8_upcast_copies", "fp8 weights upcast for backward", copies * e, "activations",
                              "one block at a time" if ckpt else "all blocks: turn on gradient_checkpointing"))
    not_added = []
    act_total = sum(x.bytes for x in act_parts)
    if not cache_lat:
        vae_part = Part("vae_encode", "VAE encode (each step)", vae_encode_bytes(info.vae_channels0, width, height, batch),
                        "activations", "before the UNet runs")
        if vae_part.bytes > act_total:
            for x in act_parts:
                x.note = (x.note + "; " if x.note else "") + "the VAE encode before them is larger"
            not_added = act_parts
            act_parts = [vae_part]
        else:
            vae_part.note = "smaller than the training activations"
            not_added = [vae_part]
    parts += act_parts
    parts.append(Part("workspaces", "cuBLAS/cuDNN workspaces", LIBRARY_WORKSPACE_BYTES, "overhead",
                      "allocated through PyTorch, so counted in max_memory_allocated"))

    allocated = sum(x.bytes for x in parts)
    parts.append(Part("allocator", "allocator reserve", int(allocated * ALLOCATOR_FRAGMENTATION), "overhead",
                      f"{ALLOCATOR_FRAGMENTATION:.0%} of live tensors"))
    parts.append(Part("cuda_context", "CUDA context", CUDA_CONTEXT_BYTES, "overhead"))
    training_peak = sum(x.bytes for x in parts)

    caching_peak = None
    if cache_lat:
        vbatch = max(1, int(cfg.vae_batch_size or 1))
        te_during = te_numel * (4 if train_te else e)  # the encoders are still on the GPU while latents are cached
        live = unet_b + te_during + vae_numel * 4 + vae_encode_bytes(info.vae_channels0, width, height, vbatch)
        caching_peak = int(live * (1 + ALLOCATOR_FRAGMENTATION)) + CUDA_CONTEXT_BYTES
        if caching_peak > training_peak:
            notes.append(f"Caching latents (vae_batch_size {vbatch}) needs more memory than training itself.")
    cache_per_image = latent_cache_bytes(cfg, width, height) if cache_lat else None
    if cache_per_image:
        where = "in RAM and in the .npz beside each image" if cfg.cache_latents_to_disk else "in RAM, not on the GPU"
        notes.append(f"Cached latents take {cache_per_image / 1024:.0f} KiB per image {where}"
                     + (" (flip_aug: twice, the mirrored image is cached too)." if cfg.flip_aug else "."))
    from .sampling import sampling_peak_bytes

    sampling_peak = sampling_peak_bytes(cfg, info, {x.key: x.bytes for x in parts}, e=e, f=f, te_numel=te_numel,
                                        vae_numel=vae_numel, conv_lora=conv_lora)
    if sampling_peak and sampling_peak > training_peak:
        notes.append("Making sample images needs more memory than training itself; smaller sample sizes "
                     "(--w/--h) lower it.")
    peak = max(training_peak, caching_peak or 0, sampling_peak or 0)
    if naive:
        notes.append("naive attention: the trainer uses SDPA; shown for comparison only.")
    if modules == 0:
        notes.append("These network settings wrap no layer of this model.")
    est = Estimate(info.family, str(cfg.pretrained_model_name_or_path), (width, height), batch, parts, n_params,
                   modules, peak, allocated, caching_peak, not_added, notes, sampling_peak_bytes=sampling_peak)
    est.latent_cache_bytes_per_image = cache_per_image
    return est


LATENT_CHANNELS = 4  # SD 1.x, 2.x and SDXL VAEs


def latent_cache_bytes(cfg, width: int, height: int) -> int:
    """Bytes one image's cached latents take (fp32, 1/8 of the resolution per side); doubled with flip_aug,
    whose mirrored image is cached beside it (trainer.run.caching)."""
    one = LATENT_CHANNELS * (height // 8) * (width // 8) * 4
    return one * (2 if cfg.flip_aug else 1)


def estimate_text(cfg, **kw) -> str:
    """One short line for a status bar; errors become the sentence."""
    try:
        est = estimate(cfg, **kw)
    except (ConfigError, ModelError) as e:
        return str(e)
    d = est.dominant
    return f"{est.peak_gib:.1f} GiB (largest: {d.label}, {d.gib:.1f} GiB; calibration {est.calibration})"
