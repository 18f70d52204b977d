"""Learning-rate schedulers by their sd-scripts names, plus a built-in cosine annealing with warm restarts.

Step convention (as sd-scripts + accelerate): the trainer calls ``scheduler.step()`` once per *optimizer*
step, i.e. after each ``gradient_accumulation_steps`` micro-batches (accelerate skips the scheduler step
while gradients are being accumulated). ``num_training_steps`` is therefore ``max_train_steps`` counted in
optimizer steps. The lr used by optimizer step ``i`` (0-based) is ``group_lr * f(i)``.

sd-scripts quirk, reproduced: ``get_scheduler_fix`` builds the scheduler for
``max_train_steps * num_processes`` steps, because accelerate's wrapped scheduler advances the
underlying scheduler ``num_processes`` times per optimizer step in multi-process training. We take the
same ``num_processes`` argument (1 for the desktop app, where it changes nothing). A ratio
``lr_warmup_steps`` < 1 becomes ``int(ratio * num_training_steps * num_processes)``; an integer
``lr_warmup_steps`` is used as given, so with several processes it is effectively
``num_processes`` times shorter in optimizer steps - exactly as in sd-scripts.

The standard curves are the formulas of ``diffusers.optimization`` / ``transformers``
``get_*_schedule_with_warmup``, implemented here with :class:`torch.optim.lr_scheduler.LambdaLR`, so
they multiply every parameter group's own initial lr (unet_lr / text_encoder_lr keep their ratio).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from trainer.errors import ConfigError
from trainer.optim.args import parse_optimizer_args
from trainer.optim.schedule_shapes import (  # noqa: F401 - POLYNOMIAL_END_LR and the shapes are read from here too
    POLYNOMIAL_END_LR, constant_lambda, constant_with_warmup_lambda, cosine_lambda,
    cosine_with_restarts_lambda, linear_lambda, polynomial_lambda, warm_restarts_lambda,
)
from trainer.optim.schedulers_extra import EXTRA_SCHEDULERS, extra_lambda
from trainer.optim.checks import (
    CUSTOM_SCHEDULER,
    CUSTOM_TYPE_ALIASES,
    WARM_RESTARTS_ALIASES,
    WARM_RESTARTS_ARGS,
    scheduler_number,
)


SCHEDULERS: dict[str, str] = {
    "constant": "The learning rate stays the same from start to end (no warmup).",
    "constant_with_warmup": "Rises linearly from 0 during the warmup, then stays constant.",
    "linear": "Warmup, then falls linearly to 0 at the last step.",
    "cosine": "Warmup, then falls along a half cosine to 0 at the last step.",
    "cosine_with_restarts": "Warmup, then lr_scheduler_num_cycles cosine decays, each restarting at full lr.",
    "polynomial": "Warmup, then polynomial decay (lr_scheduler_power) to 1e-7.",
    "adafactor": "Reports AdaFactor's own learning rate (AdaFactor with relative_step=True only).",
    **EXTRA_SCHEDULERS,
    CUSTOM_SCHEDULER: "Cosine annealing with warm restarts: every cycle of T_0 steps warms up, "
    "peaks decay by down_factor per cycle and by gamma_min_lr per step.",
}

# lr_scheduler_type values that mean our built-in scheduler (the guide's patched katsura-jp module)
_CUSTOM_TYPE_ALIASES = CUSTOM_TYPE_ALIASES


# ---------------------------------------------------------------------------------------------------------
# standard curves (lambda of the 0-based step -> multiplier of the group's initial lr)


class CosineAnnealingWarmupRestarts(LambdaLR):
    """Cosine annealing with warm restarts where every cycle warms up and the peaks decay.

    The lr of each parameter group is ``group_lr * f(t)`` for the 0-based optimizer step ``t``::

        c, s   = divmod(t, T_0)                  # cycle index, step inside the cycle
        W      = warmup_steps if c == 0 else cycle_warmup
        peak   = down_factor**c * gamma_min_lr**(decay * t)
        floor  = min(min_lr_ratio * gamma_min_lr**t, peak)
        s <  W : f = start + (peak - start) * s / W     start = 0 if init_lr_ground else floor
        s >= W : f = floor + (peak - floor) * (1 + cos(pi * (s - W) / (T_0 - W))) / 2

    Arguments (``lr_scheduler_args`` names):

    * ``T_0``: cycle length in optimizer steps, warmup included; restarts happen at multiples of T_0.
      The guide: total steps / wanted number of restarts (default: num_training_steps /
      lr_scheduler_num_cycles).
    * ``gamma_min_lr`` (default 1 = off): per-step multiplicative decay of the whole curve's envelope,
      so lower values make the lr decline faster over the run (0.99915 over 1600 steps: x0.26).
    * ``decay`` (default 1): how much of that per-step decay reaches the peaks: the peaks follow
      ``gamma_min_lr**(decay*t)`` while the floor always follows ``gamma_min_lr**t``; 0 keeps the peaks
      (apart from down_factor) and only lowers the floor.
    * ``down_factor`` (default 1): each restart's peak = previous peak x down_factor (0.5 halves it).
    * ``warmup_steps`` (default: lr_warmup_steps): linear warmup of the first cycle.
    * ``cycle_warmup`` (default: warmup_steps): linear warmup at the start of every later cycle, so a
      restart ramps up instead of jumping from ~0 to the peak in one step.
    * ``init_lr_ground`` (default False): warmups start from 0 instead of from the floor.
    * ``min_lr`` (default 0): floor of the cosine for the group with the highest lr, as an absolute lr;
      other groups get the same fraction of their lr. Or ``min_lr_ratio``: the floor as a fraction of
      each group's lr.

    The lr is never negative. Aliases from katsura-jp's original: ``first_cycle_steps`` = T_0,
    ``gamma`` = down_factor.
    """

    ARGS = WARM_RESTARTS_ARGS
    ALIASES = WARM_RESTARTS_ALIASES

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        T_0: int,
        gamma_min_lr: float = 1.0,
        decay: float = 1.0,
        down_factor: float = 1.0,
        warmup_steps: int = 0,
        cycle_warmup: int | None = None,
        init_lr_ground: bool = False,
        min_lr: float | None = None,
        min_lr_ratio: float | None = None,
        last_epoch: int = -1,
    ) -> None:
        number = scheduler_number  # torch-free, shared with trainer.optim.checks (the forms' checks)

        T_0 = number("T_0", T_0, int)
        warmup_steps = number("warmup_steps", warmup_steps, int)
        cycle_warmup = warmup_steps if cycle_warmup is None else number("cycle_warmup", cycle_warmup, int)
        gamma_min_lr = number("gamma_min_lr", gamma_min_lr)
        decay = number("decay", decay)
        down_factor = number("down_factor", down_factor)
        if T_0 < 1:
            raise ConfigError(f"lr_scheduler_args T_0 must be at least 1 step, not {T_0}.")
        if not 0 < gamma_min_lr <= 1:
            raise ConfigError(
                f"lr_scheduler_args gamma_min_lr must be in (0, 1] (1 = no decay), not {gamma_min_lr}."
            )
        if decay < 0:
            raise ConfigError(f"lr_scheduler_args decay must be 0 or more, not {decay}.")
        if down_factor <= 0:
            raise ConfigError(f"lr_scheduler_args down_factor must be more than 0, not {down_factor}.")
        for name, w in (("warmup_steps", warmup_steps), ("cycle_warmup", cycle_warmup)):
            if not 0 <= w < T_0:
                raise ConfigError(
                    f"lr_scheduler_args {name}={w} must be at least 0 and shorter than "
                    f"the cycle length T_0={T_0}."
                )
        if not isinstance(init_lr_ground, bool):
            raise ConfigError(
                f"lr_scheduler_args init_lr_ground must be True or False, not {init_lr_ground!r}."
            )
        if min_lr is not None and min_lr_ratio is not None:
            raise ConfigError("lr_scheduler_args sets both min_lr and min_lr_ratio; keep one.")
        base = [g.get("initial_lr", g.get("lr")) or 0.0 for g in optimizer.param_groups]
        if min_lr is not None:
            top = max(base) if base else 0.0
            ratio = number("min_lr", min_lr) / top if top > 0 else 0.0
        else:
            ratio = number("min_lr_ratio", min_lr_ratio or 0.0)
        if not 0 <= ratio <= 1:
            raise ConfigError(
                f"lr_scheduler_args min_lr must be between 0 and the learning rate (ratio {ratio:g})."
            )
        self.T_0, self.gamma_min_lr, self.decay, self.down_factor = T_0, gamma_min_lr, decay, down_factor
        self.warmup_steps, self.cycle_warmup, self.init_lr_ground = warmup_steps, cycle_warmup, init_lr_ground
        self.min_lr_ratio = ratio
        f = warm_restarts_lambda(T_0, gamma_min_lr, decay, down_factor, warmup_steps, cycle_warmup,
                                 init_lr_ground, ratio)
        super().__init__(optimizer, f, last_epoch=last_epoch)


# ---------------------------------------------------------------------------------------------------------


def resolve_warmup_steps(lr_warmup_steps: int | float | None, num_training_steps: int) -> int:
    """sd-scripts: a float below 1 is a ratio of ``num_training_steps`` (``int(ratio * total)``),
    anything else a number of steps."""
    if lr_warmup_steps is None:
        return 0
    if isinstance(lr_warmup_steps, bool) or not isinstance(lr_warmup_steps, (int, float)):
        raise ConfigError(
            f"lr_warmup_steps must be a number of steps or a ratio below 1, not {lr_warmup_steps!r}."
        )
    if lr_warmup_steps < 0:
        raise ConfigError(f"lr_warmup_steps must not be negative ({lr_warmup_steps}).")
    if isinstance(lr_warmup_steps, float) and lr_warmup_steps < 1:
        return int(lr_warmup_steps * num_training_steps)
    if lr_warmup_steps != int(lr_warmup_steps):
        raise ConfigError(
            f"lr_warmup_steps {lr_warmup_steps} is neither a whole number of steps nor a ratio below 1."
        )
    return int(lr_warmup_steps)


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=0.5)
    return f" Did you mean {close[0]}?" if close else f" Known names: {', '.join(choices)}."


def _unwrap(optimizer):
    opt = getattr(optimizer, "optimizer", optimizer)  # BuiltOptimizer -> torch optimizer
    return opt


def _custom(optimizer, kwargs: dict, total: int, warmup: int, num_cycles) -> CosineAnnealingWarmupRestarts:
    kwargs = dict(kwargs)
    for alias, name in CosineAnnealingWarmupRestarts.ALIASES.items():
        if alias in kwargs:
            if name in kwargs:
                raise ConfigError(f"lr_scheduler_args sets both {alias} and {name}; keep {name}.")
            kwargs[name] = kwargs.pop(alias)
    unknown = [k for k in kwargs if k not in CosineAnnealingWarmupRestarts.ARGS and k != "last_epoch"]
    if unknown:
        raise ConfigError(
            f"lr_scheduler_args {', '.join(unknown)} not known to {CUSTOM_SCHEDULER}; "
            f"it takes {', '.join(CosineAnnealingWarmupRestarts.ARGS)}."
        )
    if "T_0" not in kwargs:
        cycles = num_cycles if isinstance(num_cycles, (int, float)) and num_cycles >= 1 else 1
        kwargs["T_0"] = max(1, int(total // cycles))
    kwargs.setdefault("warmup_steps", warmup)
    return CosineAnnealingWarmupRestarts(optimizer, **kwargs)


def build_scheduler(
    optimizer,
    *,
    lr_scheduler: str = "constant",
    num_training_steps: int,
    lr_warmup_steps: int | float = 0,
    lr_scheduler_num_cycles: int = 1,
    lr_scheduler_power: float = 1.0,
    lr_scheduler_type: str | None = "",
    lr_scheduler_args: Sequence[str] | Mapping[str, Any] | str | None = (),
    num_processes: int = 1,
    lr_decay_steps: int | float = 0,
    lr_scheduler_timescale: int | None = None,
    lr_scheduler_min_lr_ratio: float | None = None,
):
    """The scheduler sd-scripts' ``get_scheduler_fix`` would build, as a torch LR scheduler.

    ``optimizer``: a torch optimizer or a :class:`BuiltOptimizer`. ``lr_scheduler``: a name of
    :data:`SCHEDULERS` (``adafactor:<initial lr>`` accepted, as sd-scripts passes it);
    ``lr_scheduler_type``: any ``module.Class`` scheduler (a bare name is looked up in
    ``torch.optim.lr_scheduler``) built as ``Class(optimizer, **lr_scheduler_args)``;
    ``cosine_annealing_warmup.CosineAnnealingWarmupRestarts`` means our built-in
    :class:`CosineAnnealingWarmupRestarts`.
    """
    optimizer = _unwrap(optimizer)
    steps_ok = isinstance(num_training_steps, int) and not isinstance(num_training_steps, bool)
    if not steps_ok or num_training_steps < 1:
        raise ConfigError(f"The number of training steps must be at least 1 (got {num_training_steps!r}).")
    if not isinstance(num_processes, int) or num_processes < 1:
        raise ConfigError(f"num_processes must be at least 1 (got {num_processes!r}).")
    total = num_training_steps * num_processes
    warmup = resolve_warmup_steps(lr_warmup_steps, total)
    kwargs = parse_optimizer_args(lr_scheduler_args, "lr_scheduler_args")
    name = (lr_scheduler or "constant").strip()
    type_name = (lr_scheduler_type or "").strip()

    if type_name:
        if type_name.lower() in _CUSTOM_TYPE_ALIASES:
            return _custom(optimizer, kwargs, total, warmup, lr_scheduler_num_cycles)
        if warmup:
            raise ConfigError(
                f"lr_warmup_steps is not used with lr_scheduler_type {type_name}; set it to 0 "
                f"(give the class its own warmup in lr_scheduler_args)."
            )
        if "." in type_name:
            module_name, _, cls_name = type_name.rpartition(".")
            try:
                module = importlib.import_module(module_name)
            except ImportError as e:
                raise ConfigError(f"lr_scheduler_type {type_name} cannot be imported: {e}.") from e
        else:
            module, cls_name = torch.optim.lr_scheduler, type_name
        cls = getattr(module, cls_name, None)
        if not inspect.isclass(cls):
            choices = [n for n, c in vars(torch.optim.lr_scheduler).items()
                       if inspect.isclass(c) and n[0].isupper() and not n.startswith("_")]
            close = difflib.get_close_matches(cls_name, choices, n=1, cutoff=0.5)
            hint = f" Did you mean torch.optim.lr_scheduler.{close[0]}?" if close else ""
            raise ConfigError(f"lr_scheduler_type {type_name} names no scheduler class.{hint}")
        try:
            return cls(optimizer, **kwargs)
        except (TypeError, ValueError, KeyError) as e:
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"lr_scheduler_args do not fit lr_scheduler_type {type_name}: {detail}.") from e

    key = name.lower()
    if key.startswith("adafactor"):
        _, _, init = name.partition(":")
        from transformers.optimization import Adafactor, AdafactorSchedule

        if type(optimizer) is not Adafactor:
            raise ConfigError("lr_scheduler adafactor works only with optimizer_type AdaFactor.")
        if warmup:
            raise ConfigError("lr_warmup_steps is not used by lr_scheduler adafactor; set it to 0.")
        if kwargs:
            raise ConfigError("lr_scheduler_args are not used by lr_scheduler adafactor; remove them.")
        try:
            initial_lr = float(init) if init else float(optimizer.param_groups[0].get("lr") or 0.0)
        except ValueError as e:
            raise ConfigError(f"lr_scheduler '{name}' has no valid initial lr after 'adafactor:'.") from e
        return AdafactorSchedule(optimizer, initial_lr)

    if key == CUSTOM_SCHEDULER:
        return _custom(optimizer, kwargs, total, warmup, lr_scheduler_num_cycles)
    if key not in SCHEDULERS:
        raise ConfigError(f"lr_scheduler '{name}' is not a known scheduler.{_suggest(key, SCHEDULERS)}")
    if kwargs:
        raise ConfigError(
            f"lr_scheduler_args ({', '.join(kwargs)}) are not used by lr_scheduler {key}; "
            f"remove them or set lr_scheduler_type."
        )

    if key == "constant":
        if warmup:
            raise ConfigError(
                "lr_warmup_steps is not used by lr_scheduler constant; choose constant_with_warmup "
                "or set lr_warmup_steps to 0."
            )
        f = constant_lambda()
    elif key == "constant_with_warmup":
        f = constant_with_warmup_lambda(warmup)
    elif key == "linear":
        f = linear_lambda(warmup, total)
    elif key == "cosine":
        f = cosine_lambda(warmup, total)
    elif key in EXTRA_SCHEDULERS:  # sd-scripts reaches these transformers schedulers too
        f = extra_lambda(key, warmup, total, num_cycles=lr_scheduler_num_cycles, lr_decay_steps=lr_decay_steps,
                         timescale=lr_scheduler_timescale, min_lr_ratio=lr_scheduler_min_lr_ratio)
    elif key == "cosine_with_restarts":
        cycles = lr_scheduler_num_cycles
        if isinstance(cycles, bool) or not isinstance(cycles, (int, float)) or cycles < 1:
            raise ConfigError(f"lr_scheduler_num_cycles must be at least 1, not {cycles!r}.")
        f = cosine_with_restarts_lambda(warmup, total, cycles)
    elif key == "polynomial":
        power = lr_scheduler_power
        if isinstance(power, bool) or not isinstance(power, (int, float)) or power <= 0:
            raise ConfigError(f"lr_scheduler_power must be more than 0, not {power!r}.")
        # diffusers divides by optimizer.defaults["lr"] (= learning_rate); groups keep their ratio to it
        lr_init = optimizer.defaults.get("lr") or max(g["lr"] for g in optimizer.param_groups)
        if not lr_init > POLYNOMIAL_END_LR:
            raise ConfigError(
                f"lr_scheduler polynomial decays to {POLYNOMIAL_END_LR:g}, "
                f"so the learning rate must be higher than that (it is {lr_init:g})."
            )
        f = polynomial_lambda(warmup, total, lr_init, power)
    else:  # pragma: no cover - SCHEDULERS and the branches above list the same names
        raise ConfigError(f"lr_scheduler '{name}' is not supported.")
    return LambdaLR(optimizer, f)
