"""Checks of the sd-scripts loss, caption, timestep and saving options (kept apart from validate.py, which is
near its size limit). Returns validate.Issue objects; no torch."""
from __future__ import annotations

import os

from trainer.config.fields import TrainConfig


def option_issues(cfg: TrainConfig, need_paths: bool = True) -> list:
    from trainer.config.validate import Issue

    out: list = []

    def err(field: str, msg: str) -> None:
        out.append(Issue(field, msg, True))

    def warn(field: str, msg: str) -> None:
        out.append(Issue(field, msg, False))

    lo = 0 if cfg.min_timestep is None else cfg.min_timestep
    hi = 1000 if cfg.max_timestep is None else cfg.max_timestep
    if lo > hi:  # each one's range is checked from the field metadata (trainer.config.ranges)
        err("min_timestep", f"min_timestep ({lo}) is above max_timestep ({hi}).")
    if cfg.loss_type in ("huber", "smooth_l1"):
        if cfg.huber_schedule == "exponential" and not 0 < cfg.huber_c <= 1:
            err("huber_c", "The exponential Huber schedule needs huber_c above 0 and at most 1.")
        elif cfg.huber_c <= 0 and cfg.huber_schedule != "snr":
            err("huber_c", "huber_c must be above 0.")
    if cfg.debiased_estimation_loss and cfg.min_snr_gamma:
        warn("debiased_estimation_loss", "debiased_estimation_loss and min_snr_gamma both reweight the loss by "
                                         "noise level; both are applied, as in sd-scripts.")
    if cfg.ip_noise_gamma_random_strength and not cfg.ip_noise_gamma:
        warn("ip_noise_gamma_random_strength", "ip_noise_gamma_random_strength does nothing without "
                                               "ip_noise_gamma.")
    if cfg.noise_offset_random_strength and not cfg.noise_offset:
        warn("noise_offset_random_strength", "noise_offset_random_strength does nothing without noise_offset.")
    if len(cfg.base_weights_multiplier) > len(cfg.base_weights):
        err("base_weights_multiplier", "base_weights_multiplier has more values than base_weights has files.")
    for v in cfg.base_weights_multiplier:
        try:
            float(v)
        except ValueError:
            err("base_weights_multiplier", f"base_weights_multiplier value '{v}' is not a number.")
    if need_paths:
        for f in cfg.base_weights:
            if not os.path.isfile(f):
                err("base_weights", f"base_weights file {f} does not exist.")
    if cfg.face_crop_aug_range:
        from trainer.dataset.checks import face_range_problem

        problem = face_range_problem(cfg.face_crop_aug_range)
        if problem:
            err("face_crop_aug_range", problem)
        if cfg.enable_bucket:
            warn("face_crop_aug_range", "face_crop_aug_range works only with enable_bucket off, as in sd-scripts.")
    # what the caches cannot give (color_aug, face_crop_aug_range, per-step captions): the run's options and
    # each dataset-config folder's, by trainer.dataset.checks.caching_issues
    sched = "" if cfg.lr_scheduler_type else cfg.lr_scheduler
    if sched == "cosine_with_min_lr" and cfg.lr_scheduler_min_lr_ratio is None:
        err("lr_scheduler_min_lr_ratio", "lr_scheduler cosine_with_min_lr needs lr_scheduler_min_lr_ratio (for "
                                         "example 0.1).")
    if sched == "warmup_stable_decay" and not cfg.lr_decay_steps:
        err("lr_decay_steps", "lr_scheduler warmup_stable_decay needs lr_decay_steps: steps, or a share of the "
                              "run below 1.")
    if cfg.lr_decay_steps < 0:
        err("lr_decay_steps", "lr_decay_steps cannot be negative.")
    if cfg.weighted_captions and (cfg.shuffle_caption or cfg.caption_tag_dropout_rate > 0):
        warn("weighted_captions", "Shuffling and tag dropout cut captions at caption_separator, also inside a "
                                  "(text:1.2) group; keep each group free of it.")
    if cfg.skip_until_initial_step and cfg.initial_step is None and cfg.initial_epoch is None:
        warn("skip_until_initial_step", "skip_until_initial_step does nothing without initial_step or "
                                        "initial_epoch.")
    if cfg.save_last_n_steps and not cfg.save_every_n_steps:
        warn("save_last_n_steps", "save_last_n_steps only removes files saved by save_every_n_steps.")
    if cfg.save_n_epoch_ratio and cfg.save_every_n_epochs:
        warn("save_n_epoch_ratio", "save_n_epoch_ratio replaces save_every_n_epochs, as in sd-scripts.")
    if cfg.fp8_base_unet and cfg.fp8_base:
        warn("fp8_base_unet", "fp8_base already stores the UNet in 8 bits; fp8_base_unet adds nothing.")
    return out
