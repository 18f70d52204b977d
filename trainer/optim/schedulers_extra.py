"""The transformers schedulers sd-scripts' get_scheduler_fix reaches through lr_scheduler that take
lr_decay_steps, lr_scheduler_timescale and lr_scheduler_min_lr_ratio: cosine_with_min_lr, warmup_stable_decay
and inverse_sqrt. Same formulas as transformers.optimization (multipliers of each group's lr per 0-based
optimizer step) and the same arguments sd-scripts passes them. No torch here."""
from __future__ import annotations

import math
from collections.abc import Callable

from trainer.errors import ConfigError
from trainer.optim.schedule_shapes import cosine_factor, warmup_ramp

EXTRA_SCHEDULERS = {
    "cosine_with_min_lr": "Warmup, then a half cosine down to lr_scheduler_min_lr_ratio x the learning rate.",
    "warmup_stable_decay": "Warmup, constant, then a cosine decay over lr_decay_steps down to "
                           "lr_scheduler_min_lr_ratio x the learning rate.",
    "inverse_sqrt": "Warmup, then 1/sqrt decay with time scale lr_scheduler_timescale (default: the warmup).",
}


def decay_steps(lr_decay_steps: int | float, total: int) -> int:
    """sd-scripts: a float is a share of the training steps (int(ratio * total)), an int a count."""
    if isinstance(lr_decay_steps, float):
        return int(lr_decay_steps * total)
    return int(lr_decay_steps or 0)


def cosine_with_min_lr_lambda(warmup: int, total: int, num_cycles: float, min_lr_ratio: float | None):
    """sd-scripts passes num_cycles = lr_scheduler_num_cycles / 2 (one cycle = a half cosine)."""
    if min_lr_ratio is None:
        raise ConfigError("lr_scheduler cosine_with_min_lr needs lr_scheduler_min_lr_ratio (for example 0.1).")

    def f(step: int) -> float:
        if step < warmup:
            return warmup_ramp(step, warmup)
        progress = float(step - warmup) / float(max(1, total - warmup))
        factor = cosine_factor(progress, num_cycles)
        return max(0.0, factor * (1 - min_lr_ratio) + min_lr_ratio)

    return f


def warmup_stable_decay_lambda(warmup: int, total: int, decay: int, num_cycles: float,
                               min_lr_ratio: float | None) -> Callable[[int], float]:
    """transformers' get_wsd_schedule with linear warmup and cosine decay, as sd-scripts calls it."""
    ratio = 0.0 if min_lr_ratio is None else min_lr_ratio
    if decay < 1:
        raise ConfigError("lr_scheduler warmup_stable_decay needs lr_decay_steps: a number of steps or a share "
                          "of the run below 1 (for example 0.2).")
    stable = total - warmup - decay
    if stable < 0:
        raise ConfigError(f"lr_warmup_steps ({warmup}) and lr_decay_steps ({decay}) are longer than the run "
                          f"({total} steps).")

    def f(step: int) -> float:
        if step < warmup:
            return max(0.0, warmup_ramp(step, warmup) * (1.0 - ratio) + ratio)
        if step < warmup + stable:
            return 1.0
        if step < warmup + stable + decay:
            progress = float(step - warmup - stable) / float(max(1, decay))
            factor = cosine_factor(progress, num_cycles)
            return max(0.0, factor * (1.0 - ratio) + ratio)
        return ratio

    return f


def inverse_sqrt_lambda(warmup: int, timescale: int | None) -> Callable[[int], float]:
    scale = timescale if timescale is not None else (warmup or 10_000)
    if scale < 1:
        raise ConfigError("lr_scheduler_timescale must be at least 1.")
    shift = scale - warmup

    def f(step: int) -> float:
        if step < warmup:
            return warmup_ramp(step, warmup)
        return 1.0 / math.sqrt((step + shift) / scale)

    return f


def extra_lambda(key: str, warmup: int, total: int, *, num_cycles, lr_decay_steps, timescale, min_lr_ratio):
    if key == "cosine_with_min_lr":
        return cosine_with_min_lr_lambda(warmup, total, num_cycles / 2, min_lr_ratio)
    if key == "warmup_stable_decay":
        return warmup_stable_decay_lambda(warmup, total, decay_steps(lr_decay_steps, total), num_cycles / 2,
                                          min_lr_ratio)
    return inverse_sqrt_lambda(warmup, timescale)
