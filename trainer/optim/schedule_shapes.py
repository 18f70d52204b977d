"""The shapes of sd-scripts' learning-rate schedules as LambdaLR factor functions (step -> factor), torch-free:
warm-up, constant, linear, cosine, cosine with restarts, polynomial and the warm restarts with decaying peaks."""
from __future__ import annotations

import math
from collections.abc import Callable

POLYNOMIAL_END_LR = 1e-7  # diffusers' get_polynomial_decay_schedule_with_warmup lr_end default


def warmup_ramp(step: int, warmup: int) -> float:
    """The linear warm-up factor of every schedule: step / warmup."""
    return float(step) / float(max(1, warmup))


def cosine_factor(progress: float, num_cycles: float) -> float:
    """The half-cosine factor at `progress` (0..1) of the decay: transformers' and sd-scripts' formula."""
    return 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))


def constant_lambda() -> Callable[[int], float]:
    return lambda step: 1.0


def constant_with_warmup_lambda(warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        return warmup_ramp(step, warmup) if step < warmup else 1.0

    return f


def linear_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return warmup_ramp(step, warmup)
        return max(0.0, float(total - step) / float(max(1, total - warmup)))

    return f


def cosine_lambda(warmup: int, total: int, num_cycles: float = 0.5) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return warmup_ramp(step, warmup)
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, cosine_factor(progress, num_cycles))

    return f


def cosine_with_restarts_lambda(warmup: int, total: int, num_cycles: int = 1) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return warmup_ramp(step, warmup)
        progress = float(step - warmup) / float(max(1, total - warmup))
        if progress >= 1.0:
            return 0.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))

    return f


def polynomial_lambda(warmup: int, total: int, lr_init: float, power: float = 1.0,
                      lr_end: float = POLYNOMIAL_END_LR) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return warmup_ramp(step, warmup)
        if step > total:
            return lr_end / lr_init
        lr_range = lr_init - lr_end
        decay_steps = total - warmup
        pct_remaining = 1 - (step - warmup) / max(1, decay_steps)
        return (lr_range * pct_remaining**power + lr_end) / lr_init

    return f


# ---------------------------------------------------------------------------------------------------------
# cosine annealing with warm restarts (built in; replaces the guide's patched cosine_annealing_warmup file)


def warm_restarts_lambda(
    T_0: int,
    gamma_min_lr: float = 1.0,
    decay: float = 1.0,
    down_factor: float = 1.0,
    warmup_steps: int = 0,
    cycle_warmup: int | None = None,
    init_lr_ground: bool = False,
    min_lr_ratio: float = 0.0,
) -> Callable[[int], float]:
    """Multiplier of the group lr at 0-based step ``t`` (see :class:`CosineAnnealingWarmupRestarts`)."""
    cycle_warmup = warmup_steps if cycle_warmup is None else cycle_warmup
    log_gamma = math.log(gamma_min_lr)

    def f(t: int) -> float:
        c, s = divmod(t, T_0)
        w = warmup_steps if c == 0 else cycle_warmup
        peak = down_factor**c * math.exp(log_gamma * decay * t)
        floor = min(min_lr_ratio * math.exp(log_gamma * t), peak)
        if s < w:
            start = 0.0 if init_lr_ground else floor
            return start + (peak - start) * s / w
        progress = (s - w) / (T_0 - w)
        return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return f
