"""The resolved run plan: what a run will do, decided once from the settings (and the dataset's bucket counts).

``resolve(cfg, bucket_counts)`` answers every question about a run that more than one place asks: which parts
train, which caches are on, the parameter groups and their learning rates as the optimizer will run them,
the scheduler after the optimizer's overrides, and the step numbers (per epoch, total, epoch ends, saves).
The trainer runs by it, and the window's previews (learning-rate curve, memory estimate, totals) draw it, so
a preview cannot disagree with the run. No torch and no Qt here: the forms call it on every edit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from trainer.dataset.plan import StepPlan, plan_steps

ADAPTIVE_PREFIXES = ("dadapt", "prodigy")  # D-Adaptation family and Prodigy find the step size themselves


@dataclass(frozen=True)
class LrGroup:
    name: str   # "unet" or "textencoder": the name lrs are reported and logged under
    lr: float   # the initial learning rate the optimizer gets for this group


@dataclass(frozen=True)
class RunPlan:
    train_unet: bool
    train_text_encoder: bool
    cache_latents: bool
    cache_text_encoder_outputs: bool
    optimizer_adaptive: bool      # Prodigy / D-Adaptation: every group runs at learning_rate
    scheduler_from_optimizer: bool  # AdaFactor with relative_step: its own schedule replaces lr_scheduler
    lr_scheduler: str             # the scheduler the run builds, after that override
    groups: tuple[LrGroup, ...]
    optimizer_note: str           # why the groups or the scheduler differ from the settings, "" when they do not
    steps: StepPlan | None        # None without bucket counts (no dataset chosen yet)
    total_steps: int
    epoch_steps: tuple[int, ...]  # steps at which an epoch ends, before the last
    save_steps: tuple[int, ...]   # steps at which a file is written, the final one included

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]


def is_adaptive(optimizer_type: str | None) -> bool:
    return (optimizer_type or "").strip().lower().startswith(ADAPTIVE_PREFIXES)


def trains_text_encoder(cfg) -> bool:
    """A text encoder trains unless the UNet trains alone or its outputs are cached (then it cannot)."""
    return not cfg.network_train_unet_only and not caches_text_encoder_outputs(cfg)


def caches_text_encoder_outputs(cfg) -> bool:
    return bool(cfg.cache_text_encoder_outputs or cfg.cache_text_encoder_outputs_to_disk)


def caches_latents(cfg) -> bool:
    return bool(cfg.cache_latents or cfg.cache_latents_to_disk)


def _groups(cfg, train_unet: bool, train_te: bool, adaptive: bool) -> tuple[LrGroup, ...]:
    """One group per trained part, the UNet first (as the network builds them)."""
    out = []
    if train_unet:
        out.append(LrGroup("unet", cfg.unet_lr if cfg.unet_lr is not None else cfg.learning_rate))
    if train_te:
        out.append(LrGroup("textencoder", cfg.text_encoder_lr if cfg.text_encoder_lr is not None
                           else cfg.learning_rate))
    if adaptive:
        lrs, _ = adaptive_group_lrs([g.lr for g in out], cfg.learning_rate)
        out = [LrGroup(g.name, lr) for g, lr in zip(out, lrs)]
    return tuple(out)


def adaptive_group_lrs(lrs: list[float], learning_rate: float) -> tuple[list[float], bool]:
    """Prodigy and D-Adaptation fail on their first step when groups have different non-zero lrs: those
    groups then all run at learning_rate (a zero lr stays zero). -> (lrs, whether any changed)."""
    if len({x for x in lrs if x}) <= 1:
        return list(lrs), False
    return [learning_rate if x else x for x in lrs], True


def every_n_epochs(cfg, epochs: int) -> int | None:
    """Epoch files every N epochs: save_n_epoch_ratio N means about N files over the run (floor(epochs / N),
    at least every epoch), else save_every_n_epochs."""
    if cfg.save_n_epoch_ratio:
        return math.floor(epochs / cfg.save_n_epoch_ratio) or 1
    return cfg.save_every_n_epochs


def _step_marks(cfg, steps: StepPlan | None, total: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    epoch_steps, saves = [], set()
    if steps is not None:
        spe = steps.steps_per_epoch
        epoch_steps = [e * spe for e in range(1, steps.epochs) if e * spe < total]
        every = every_n_epochs(cfg, steps.epochs)
        if every:
            saves.update(e * spe for e in range(every, steps.epochs, every) if e * spe < total)
    if cfg.save_every_n_steps:
        saves.update(range(cfg.save_every_n_steps, total, cfg.save_every_n_steps))
    return tuple(epoch_steps), tuple(sorted(saves)) + (total,)


def resolve(cfg, bucket_counts: dict | None = None, num_processes: int = 1) -> RunPlan:
    """The plan of ``cfg`` (a TrainConfig) on a dataset with ``bucket_counts`` ((w, h) -> images x repeats;
    None when unknown: the steps then come from max_train_steps alone)."""
    from trainer.optim.checks import adafactor_sets_scheduler

    cfg = _with_dataset_config(cfg)
    train_unet = not cfg.network_train_text_encoder_only
    train_te = trains_text_encoder(cfg)
    adaptive = is_adaptive(cfg.optimizer_type)
    from_optimizer = adafactor_sets_scheduler(cfg.optimizer_type, cfg.optimizer_args)
    note = ""
    if from_optimizer:
        note = ("AdaFactor (relative_step) sets its own learning rate from the gradients; the curve shows the "
                "starting value only.")
    elif adaptive:
        note = (f"{cfg.optimizer_type} finds the step size itself: the curve is the factor the scheduler applies "
                "to it (learning_rate, usually 1.0, for every part).")
    steps = None
    if bucket_counts:
        steps = plan_steps(bucket_counts, cfg.train_batch_size, cfg.gradient_accumulation_steps, num_processes,
                           cfg.max_train_epochs, cfg.max_train_steps)
        total = steps.total_steps
    else:
        total = cfg.max_train_steps
    epoch_steps, save_steps = _step_marks(cfg, steps, total)
    return RunPlan(
        train_unet=train_unet, train_text_encoder=train_te, cache_latents=caches_latents(cfg),
        cache_text_encoder_outputs=caches_text_encoder_outputs(cfg), optimizer_adaptive=adaptive,
        scheduler_from_optimizer=from_optimizer,
        lr_scheduler="adafactor" if from_optimizer else cfg.lr_scheduler,
        groups=_groups(cfg, train_unet, train_te, adaptive), optimizer_note=note, steps=steps,
        total_steps=total, epoch_steps=epoch_steps, save_steps=save_steps)


def _with_dataset_config(cfg):
    """cfg with its dataset config's batch size, resolution and bucket keys; unchanged when it has none or
    it cannot be read (the check of the settings reports that)."""
    from trainer.dataset.sources import effective_config
    from trainer.errors import UserError

    try:
        return effective_config(cfg)
    except UserError:
        return cfg


def dataset_scan(cfg):
    """cfg's training folders (a dataset config's or train_data_dir + reg_data_dir) scanned as the trainer
    scans them; None without any."""
    from pathlib import Path

    from trainer.dataset.sources import scan_sources

    if getattr(cfg, "dataset_config", ""):
        if not Path(cfg.dataset_config).is_file():
            return None
    elif not cfg.train_data_dir or not Path(cfg.train_data_dir).is_dir():
        return None
    return scan_sources(_with_dataset_config(cfg))


def dataset_bucket_counts(cfg, scan=None):
    """Images x repeats per bucket of cfg's training folder, bucketed as the trainer will ({bucket: items};
    with several [[datasets]] a [(batch size, {bucket: items})] list, one per dataset: what ``resolve``
    takes); None without one. ``scan``: dataset_scan(cfg) when the caller has it already."""
    from trainer.dataset.config_file import dataset_configs
    from trainer.dataset.groups import bucket_groups, plan_counts, split_groups

    scan = scan if scan is not None else dataset_scan(cfg)
    if scan is None:
        return None
    groups = split_groups(scan, dataset_configs(cfg))
    bucket_groups(groups)
    return plan_counts(groups)
