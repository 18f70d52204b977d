"""The `ss_*` training record sd-scripts writes into every LoRA header (read by A1111's and ComfyUI's
LoRA browsers and by our check tool). Values are strings, as sd-scripts stores them."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from trainer.config.fields import TrainConfig
from trainer.network.modelspec import build_modelspec
from trainer.config.netargs import parse_network_args
from trainer.config.validate import parse_resolution
from trainer.version import APP_VERSION  # noqa: F401  (re-exported: main.py --version, tests)


# sd-scripts' SS_METADATA_MINIMUM_KEYS: written even with no_metadata
MINIMUM_KEYS = ("ss_v2", "ss_base_model_version", "ss_network_module", "ss_network_dim", "ss_network_alpha",
                "ss_network_args")


@dataclass
class RunInfo:
    """What the trainer knows about a run beyond the config."""
    model_version: str            # sd_v1 | sd_v2 | sdxl_base_v1-0
    session_id: int
    started_at: float
    num_train_images: int
    batches_per_epoch: int
    epochs: int
    total_steps: int
    optimizer: str                # sd-scripts' ss_optimizer text
    num_processes: int = 1
    dataset_dirs: dict = field(default_factory=dict)
    tag_frequency: dict = field(default_factory=dict)
    bucket_info: dict = field(default_factory=dict)
    model_hashes: tuple[str, str] | None = None
    vae_hashes: tuple[str, str] | None = None
    seed: int | None = None       # the seed used (drawn by the trainer when cfg.seed is None)
    num_reg_images: int = 0       # regularization images x repeats, before balancing (sd-scripts)
    reg_dataset_dirs: dict = field(default_factory=dict)
    datasets: list | None = None  # ss_datasets, written for a dataset_config run as sd-scripts does


def build_metadata(cfg: TrainConfig, run: RunInfo) -> dict[str, str]:
    text_encoder_lr = cfg.text_encoder_lr if cfg.text_encoder_lr is not None else cfg.learning_rate
    unet_lr = cfg.unet_lr if cfg.unet_lr is not None else cfg.learning_rate
    md = {
        "ss_session_id": run.session_id,
        "ss_training_started_at": run.started_at,
        "ss_output_name": cfg.output_name,
        "ss_learning_rate": cfg.learning_rate,
        "ss_text_encoder_lr": text_encoder_lr,
        "ss_unet_lr": unet_lr,
        "ss_num_train_images": run.num_train_images,
        "ss_num_reg_images": run.num_reg_images,
        "ss_num_batches_per_epoch": run.batches_per_epoch,
        "ss_num_epochs": run.epochs,
        "ss_gradient_checkpointing": cfg.gradient_checkpointing,
        "ss_gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "ss_max_train_steps": run.total_steps,
        "ss_lr_warmup_steps": cfg.lr_warmup_steps,
        "ss_lr_scheduler": cfg.lr_scheduler_type or cfg.lr_scheduler,
        "ss_network_module": cfg.network_module,
        "ss_network_dim": cfg.network_dim or 4,
        "ss_network_alpha": cfg.network_alpha,  # str() of the config's type like sd-scripts: "4" or "4.0"
        "ss_network_dropout": cfg.network_dropout,
        "ss_mixed_precision": cfg.mixed_precision,
        "ss_full_fp16": bool(cfg.full_fp16),
        "ss_v2": run.model_version.startswith("sd_v2"),
        "ss_base_model_version": run.model_version,
        "ss_clip_skip": cfg.clip_skip,
        "ss_max_token_length": cfg.max_token_length,
        "ss_cache_latents": bool(cfg.cache_latents or cfg.cache_latents_to_disk),
        "ss_seed": run.seed if run.seed is not None else cfg.seed,  # the seed used, as sd-scripts records
        "ss_lowram": cfg.lowram,
        "ss_noise_offset": cfg.noise_offset,
        "ss_multires_noise_iterations": cfg.multires_noise_iterations,
        "ss_multires_noise_discount": cfg.multires_noise_discount,
        "ss_adaptive_noise_scale": cfg.adaptive_noise_scale,
        "ss_zero_terminal_snr": cfg.zero_terminal_snr,
        "ss_training_comment": cfg.training_comment or None,  # "None" as sd-scripts; the app is in its own keys
        "ss_optimizer": run.optimizer,
        "ss_max_grad_norm": cfg.max_grad_norm,
        "ss_caption_dropout_rate": cfg.caption_dropout_rate,
        "ss_caption_dropout_every_n_epochs": cfg.caption_dropout_every_n_epochs,
        "ss_caption_tag_dropout_rate": cfg.caption_tag_dropout_rate,
        "ss_face_crop_aug_range": cfg.face_crop_aug_range or None,  # sd-scripts writes None when unset
        "ss_ip_noise_gamma": cfg.ip_noise_gamma,
        "ss_debiased_estimation": bool(cfg.debiased_estimation_loss),
        "ss_noise_offset_random_strength": bool(cfg.noise_offset_random_strength),
        "ss_ip_noise_gamma_random_strength": bool(cfg.ip_noise_gamma_random_strength),
        "ss_loss_type": cfg.loss_type,
        "ss_huber_schedule": cfg.huber_schedule,
        "ss_huber_scale": cfg.huber_scale,
        "ss_huber_c": cfg.huber_c,
        "ss_fp8_base_unet": bool(cfg.fp8_base_unet),
        # sd-scripts records its validation settings as their text
        **{f"ss_{name}": str(getattr(cfg, name)) for name in (
            "validation_seed", "validation_split", "max_validation_steps", "validate_every_n_epochs",
            "validate_every_n_steps")},
        "ss_resize_interpolation": cfg.resize_interpolation,
        "ss_num_validation_images": 0,
        "ss_color_aug": bool(cfg.color_aug),
        "ss_min_snr_gamma": cfg.min_snr_gamma,
        "ss_scale_weight_norms": cfg.scale_weight_norms,
        "ss_fp8_base": bool(cfg.fp8_base),
        "ss_full_bf16": bool(cfg.full_bf16),
        "ss_v_parameterization": bool(cfg.v_parameterization),
        "ss_batch_size_per_device": cfg.train_batch_size,
        "ss_total_batch_size": cfg.train_batch_size * run.num_processes * cfg.gradient_accumulation_steps,
        "ss_resolution": str(parse_resolution(cfg.resolution)),
        "ss_flip_aug": bool(cfg.flip_aug),
        "ss_random_crop": bool(cfg.random_crop),
        "ss_shuffle_caption": bool(cfg.shuffle_caption),
        "ss_enable_bucket": bool(cfg.enable_bucket),
        "ss_bucket_no_upscale": bool(cfg.bucket_no_upscale),
        "ss_min_bucket_reso": cfg.min_bucket_reso,
        "ss_max_bucket_reso": cfg.max_bucket_reso,
        "ss_keep_tokens": cfg.keep_tokens,
        "ss_dataset_dirs": json.dumps(run.dataset_dirs, ensure_ascii=False),
        "ss_reg_dataset_dirs": json.dumps(run.reg_dataset_dirs, ensure_ascii=False),
        "ss_prior_loss_weight": cfg.prior_loss_weight,
        "ss_masked_loss": bool(cfg.masked_loss),
        "ss_tag_frequency": json.dumps(run.tag_frequency, ensure_ascii=False),
        "ss_bucket_info": json.dumps(run.bucket_info),
        "ss_lora_desk_version": APP_VERSION,
    }
    if run.datasets is not None:  # a dataset_config run: its datasets instead of the run-wide keys
        from trainer.dataset.run_info import FOLDER_RUN_KEYS

        md["ss_datasets"] = json.dumps(run.datasets, ensure_ascii=False)
        md = {k: v for k, v in md.items() if k not in FOLDER_RUN_KEYS}
    if cfg.network_args:
        net_args = parse_network_args(cfg.network_args)
        if not cfg.dim_from_weights and "dropout" not in net_args:  # sd-scripts' "workaround for LyCORIS"
            net_args["dropout"] = cfg.network_dropout
        md["ss_network_args"] = json.dumps(net_args)
    if cfg.pretrained_model_name_or_path:
        md["ss_sd_model_name"] = os.path.basename(cfg.pretrained_model_name_or_path.rstrip("/\\"))
        if run.model_hashes:
            md["ss_sd_model_hash"], md["ss_new_sd_model_hash"] = run.model_hashes
    if cfg.vae:
        md["ss_vae_name"] = os.path.basename(cfg.vae)
        if run.vae_hashes:
            md["ss_vae_hash"], md["ss_new_vae_hash"] = run.vae_hashes
    md = {k: str(v) for k, v in md.items()}
    if cfg.no_metadata:  # sd-scripts keeps the few keys a loader needs to apply the file
        md = {k: v for k, v in md.items() if k in MINIMUM_KEYS}
    md.update(build_modelspec(cfg, run.model_version, run.started_at, f"lora-desk/{APP_VERSION}"))
    return md


def with_progress(md: dict[str, str], *, epoch: int, step: int) -> dict[str, str]:
    out = dict(md)
    if "ss_session_id" not in out:  # no_metadata: sd-scripts adds no progress keys either
        return out
    out["ss_epoch"] = str(epoch)
    out["ss_steps"] = str(step)
    out["ss_training_finished_at"] = str(time.time())
    return out


def run_metadata(cfg: TrainConfig, plan, base, scan, report, data, session_id: int, seed: int, optimizer: str,
                 num_processes: int, model_hashes=None, groups=None) -> dict[str, str]:
    """The metadata of a training run's files, from its plan, model, dataset scan and bucket report.
    model_hashes: the base model's (legacy, sha256) when already computed (in the background); groups: the
    run's [[datasets]] (trainer.dataset.groups), each recorded in ss_datasets."""
    from pathlib import Path

    from trainer.dataset.run_info import bucket_info, dataset_metadata
    from trainer.network.lora_file import file_hashes

    model_path = Path(cfg.pretrained_model_name_or_path)
    hashes = model_hashes or (file_hashes(model_path) if model_path.is_file() else None)
    vae_hashes = file_hashes(cfg.vae) if cfg.vae and Path(cfg.vae).is_file() else None
    run = RunInfo(
        model_version=base.model_version, session_id=session_id, started_at=time.time(),
        batches_per_epoch=data.batches_per_epoch,
        epochs=plan.epochs, total_steps=plan.total_steps, optimizer=optimizer,
        num_processes=num_processes,
        **dataset_metadata(scan, data, groups),  # the folders and datasets, counted as sd-scripts does
        bucket_info=bucket_info(plan.buckets, report.mean_ar_error),
        model_hashes=hashes, vae_hashes=vae_hashes, seed=seed)
    return build_metadata(cfg, run)
