"""What ``build_optimizer`` / ``build_scheduler`` would refuse, found without torch and before any model is
loaded: ``trainer.config.validate`` shows these sentences beside the fields (the forms check on every change).

Only what is certain from the settings alone is checked; the builders stay the final word (they also know
the step count, the learning rates and the installed packages).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from trainer.errors import ConfigError
from trainer.optim.args import is_unreadable_literal, parse_value, split_items
from trainer.optim.schedulers_extra import EXTRA_SCHEDULERS

# the optimizers of trainer.optim.optimizers.OPTIMIZERS (a test keeps both lists equal)
BUILT_IN_OPTIMIZERS = (
    "AdamW", "AdamW8bit", "PagedAdamW8bit", "PagedAdamW", "PagedAdamW32bit", "Lion", "Lion8bit",
    "PagedLion8bit", "SGDNesterov", "SGDNesterov8bit", "DAdaptation", "DAdaptAdamPreprint", "DAdaptAdaGrad",
    "DAdaptAdam", "DAdaptAdan", "DAdaptAdanIP", "DAdaptLion", "DAdaptSGD", "Prodigy", "AdaFactor",
)
_BUILT_IN_LOWER = {n.lower(): n for n in BUILT_IN_OPTIMIZERS}
_ADAFACTOR_NAMES = ("adafactor", "transformers.optimization.adafactor", "transformers.adafactor")

# the scheduler names build_scheduler knows (trainer.optim.schedulers.SCHEDULERS; a test keeps both equal)
CUSTOM_SCHEDULER = "cosine_annealing_warmup_restarts"
SCHEDULER_NAMES = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts",
                   "polynomial", *EXTRA_SCHEDULERS, "adafactor", CUSTOM_SCHEDULER)

# lr_scheduler_type values that mean our built-in scheduler (the guide's patched katsura-jp module)
CUSTOM_TYPE_ALIASES = {
    "cosine_annealing_warmup.cosineannealingwarmuprestarts",
    "cosine_annealing_warmup.scheduler.cosineannealingwarmuprestarts",
    "cosineannealingwarmuprestarts",
    CUSTOM_SCHEDULER,
}

# CosineAnnealingWarmupRestarts' lr_scheduler_args and the aliases of katsura-jp's original
WARM_RESTARTS_ARGS = ("T_0", "gamma_min_lr", "decay", "down_factor", "warmup_steps", "cycle_warmup",
                      "init_lr_ground", "min_lr", "min_lr_ratio")
WARM_RESTARTS_ALIASES = {"first_cycle_steps": "T_0", "gamma": "down_factor"}
_WARM_RESTARTS_INTS = ("T_0", "warmup_steps", "cycle_warmup", "last_epoch")
_WARM_RESTARTS_FLOATS = ("gamma_min_lr", "decay", "down_factor", "min_lr", "min_lr_ratio")

# arguments that are numbers in every torch.optim.lr_scheduler class that has them (text is never valid)
_TORCH_NUMBERS = {
    "T_0", "T_mult", "T_max", "eta_min", "step_size", "gamma", "milestones", "total_iters", "start_factor",
    "end_factor", "factor", "power", "max_lr", "base_lr", "total_steps", "epochs", "steps_per_epoch",
    "pct_start", "div_factor", "final_div_factor", "patience", "threshold", "cooldown", "min_lr", "eps",
    "step_size_up", "step_size_down", "base_momentum", "max_momentum", "last_epoch",
}


def scheduler_number(name: str, value: Any, kind: type = float) -> Any:
    """One numeric lr_scheduler_args value of CosineAnnealingWarmupRestarts, or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"lr_scheduler_args {name} must be a number, not {value!r}.")
    if kind is int and value != int(value):
        raise ConfigError(f"lr_scheduler_args {name} must be a whole number of steps, not {value!r}.")
    return kind(value)


def is_adafactor(optimizer_type: str | None) -> bool:
    return (optimizer_type or "").strip().lower() in _ADAFACTOR_NAMES


def _values(items: Iterable[str] | str | None, setting: str) -> tuple[dict[str, Any], list[str]]:
    """The parsed args and sentences for items whose value cannot be read (ConfigError for a bad item)."""
    problems = []
    for item, _key, value in split_items(items, setting):
        if is_unreadable_literal(value):
            problems.append(f"{setting} item '{item}': the value '{value.strip()}' cannot be read; write a "
                            "number, True/False, or numbers separated by commas like 0.9,0.99.")
    kwargs = {key: parse_value(value) for _item, key, value in split_items(items, setting)}
    return kwargs, problems


def optimizer_arg_problems(optimizer_type: str | None, optimizer_args) -> list[str]:
    """Sentences for optimizer_args that build_optimizer would refuse."""
    try:
        kwargs, problems = _values(optimizer_args, "optimizer_args")
    except ConfigError as e:
        return [str(e)]
    if "lr" in kwargs:
        problems.append("optimizer_args must not set lr; use learning_rate, unet_lr and text_encoder_lr.")
    name = _BUILT_IN_LOWER.get((optimizer_type or "").strip().lower() or "adamw")
    if name:  # none of the built-in optimizers takes text
        for key, value in kwargs.items():
            if isinstance(value, str) and not is_unreadable_literal(value):
                problems.append(f"optimizer_args {key}={value}: {name} takes numbers and True/False, "
                                f"not the text '{value}'.")
    if name in ("SGDNesterov", "SGDNesterov8bit") and kwargs.get("nesterov", True) is not True:
        problems.append(f"{name} always uses nesterov=True; remove nesterov from optimizer_args.")
    return problems


def adafactor_sets_scheduler(optimizer_type: str | None, optimizer_args) -> bool:
    """AdaFactor with relative_step=True (its default) replaces lr_scheduler with 'adafactor'."""
    if not is_adafactor(optimizer_type):
        return False
    try:
        kwargs = _values(optimizer_args, "optimizer_args")[0]
    except ConfigError:
        return False
    return bool(kwargs.get("relative_step", True) or kwargs.get("warmup_init", False))


def warm_restarts_problems(kwargs: dict[str, Any], lr_warmup_steps: float = 0) -> list[str]:
    """Sentences for lr_scheduler_args CosineAnnealingWarmupRestarts would refuse, as far as they are known
    without the step count and the learning rates. ``lr_warmup_steps`` is its warmup_steps unless set."""
    kwargs = dict(kwargs)
    problems = []
    for alias, name in WARM_RESTARTS_ALIASES.items():
        if alias in kwargs:
            if name in kwargs:
                problems.append(f"lr_scheduler_args sets both {alias} and {name}; keep {name}.")
            kwargs[name] = kwargs.pop(alias)
    unknown = [k for k in kwargs if k not in WARM_RESTARTS_ARGS and k != "last_epoch"]
    if unknown:
        problems.append(f"lr_scheduler_args {', '.join(unknown)} not known to {CUSTOM_SCHEDULER}; "
                        f"it takes {', '.join(WARM_RESTARTS_ARGS)}.")
    good: dict[str, Any] = {}
    for key, value in kwargs.items():
        try:
            if key in _WARM_RESTARTS_INTS:
                good[key] = scheduler_number(key, value, int)
            elif key in _WARM_RESTARTS_FLOATS:
                good[key] = scheduler_number(key, value)
        except ConfigError as e:
            problems.append(str(e))
    ground = kwargs.get("init_lr_ground", False)
    if not isinstance(ground, bool):
        problems.append(f"lr_scheduler_args init_lr_ground must be True or False, not {ground!r}.")
    t0 = good.get("T_0")
    if t0 is not None and t0 < 1:
        problems.append(f"lr_scheduler_args T_0 must be at least 1 step, not {t0}.")
    if "gamma_min_lr" in good and not 0 < good["gamma_min_lr"] <= 1:
        problems.append(f"lr_scheduler_args gamma_min_lr must be in (0, 1] (1 = no decay), not "
                        f"{good['gamma_min_lr']}.")
    if good.get("decay", 0) < 0:
        problems.append(f"lr_scheduler_args decay must be 0 or more, not {good['decay']}.")
    if good.get("down_factor", 1) <= 0:
        problems.append(f"lr_scheduler_args down_factor must be more than 0, not {good['down_factor']}.")
    if t0 is not None and t0 >= 1:
        for key in ("warmup_steps", "cycle_warmup"):
            if key in good and not 0 <= good[key] < t0:
                problems.append(f"lr_scheduler_args {key}={good[key]} must be at least 0 and shorter than "
                                f"the cycle length T_0={t0}.")
        steps = lr_warmup_steps or 0  # a whole number of steps (below 1 it is a share of all steps)
        if "warmup_steps" not in kwargs and steps >= 1 and steps == int(steps) and steps >= t0:
            problems.append(f"lr_warmup_steps {int(steps)} is the first cycle's warmup and must be shorter "
                            f"than the cycle length T_0={t0} in lr_scheduler_args.")
    if "min_lr" in kwargs and "min_lr_ratio" in kwargs:
        problems.append("lr_scheduler_args sets both min_lr and min_lr_ratio; keep one.")
    ratio = good.get("min_lr_ratio", 0)
    if not 0 <= ratio <= 1:
        problems.append(f"lr_scheduler_args min_lr_ratio must be between 0 and 1, not {ratio}.")
    return problems


def scheduler_problems(cfg) -> list[tuple[str, str]]:
    """(field, sentence) for the lr_scheduler settings of ``cfg`` (a TrainConfig) that build_scheduler would
    refuse. lr_warmup_steps with lr_scheduler constant / adafactor is checked by trainer.config.validate itself."""
    args, warm = "lr_scheduler_args", "lr_warmup_steps"
    try:
        kwargs, unreadable = _values(cfg.lr_scheduler_args, args)
    except ConfigError as e:
        return [(args, str(e))]
    type_name = (cfg.lr_scheduler_type or "").strip()
    if type_name:  # any scheduler class; lr_scheduler is not used
        if type_name.lower() in CUSTOM_TYPE_ALIASES:
            return [(args, p) for p in warm_restarts_problems(kwargs, cfg.lr_warmup_steps)]
        out = [(args, p) for p in unreadable]
        if cfg.lr_warmup_steps:
            out.append((warm, f"lr_warmup_steps is not used with lr_scheduler_type {type_name}; set it to 0 "
                              "(give the class its own warmup in lr_scheduler_args)."))
        if "." not in type_name or type_name.startswith("torch.optim.lr_scheduler."):
            cls = type_name.rpartition(".")[2]
            for key, value in kwargs.items():
                if key in _TORCH_NUMBERS and isinstance(value, str) and not is_unreadable_literal(value):
                    out.append((args, f"lr_scheduler_args {key}={value}: {cls} takes a number for {key}, "
                                      f"not the text '{value}'."))
        return out
    out = []
    name = (cfg.lr_scheduler or "constant").strip()
    key = name.lower()
    if adafactor_sets_scheduler(cfg.optimizer_type, cfg.optimizer_args):
        if key not in ("adafactor", "constant") and cfg.lr_warmup_steps:  # those two: trainer.config.validate
            out.append((warm, "AdaFactor with relative_step=True sets its own learning rate (lr_scheduler "
                              "adafactor), which has no warm-up; set lr_warmup_steps to 0 or add "
                              "relative_step=False to optimizer_args."))
        key = "adafactor"
    if key == "adafactor":
        if not is_adafactor(cfg.optimizer_type):
            out.append(("lr_scheduler", "lr_scheduler adafactor works only with optimizer_type AdaFactor."))
        if kwargs:
            out.append((args, "lr_scheduler_args are not used by lr_scheduler adafactor; remove them."))
        return out
    if key == CUSTOM_SCHEDULER:
        return [(args, p) for p in warm_restarts_problems(kwargs, cfg.lr_warmup_steps)]
    if key not in SCHEDULER_NAMES:
        close = difflib.get_close_matches(key, SCHEDULER_NAMES, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]}?" if close else f" Known names: {', '.join(SCHEDULER_NAMES)}."
        return [("lr_scheduler", f"lr_scheduler '{name}' is not a known scheduler.{hint}")]
    if kwargs:
        out.append((args, f"lr_scheduler_args ({', '.join(kwargs)}) are not used by lr_scheduler {key}; "
                          "remove them or set lr_scheduler_type."))
    return out
