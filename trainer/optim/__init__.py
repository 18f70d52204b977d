"""Optimizers and learning-rate schedulers by their sd-scripts names (``optimizer_type``, ``lr_scheduler``).

The names below are imported on first use (PEP 562), so ``trainer.optim.args`` and ``trainer.optim.checks``
(torch-free: parsing and checks of optimizer_args / lr_scheduler_args for the forms) load without torch.
``trainer.optim.optimizers``, ``schedulers`` and ``preview`` import torch; bitsandbytes, transformers,
dadaptation and prodigyopt are only imported when an optimizer or scheduler that needs them is built.
"""

from importlib import import_module

_EXPORTS = {
    "format_args": "args",
    "parse_optimizer_args": "args",
    "OPTIMIZERS": "optimizers",
    "BuiltOptimizer": "optimizers",
    "OptimizerInfo": "optimizers",
    "build_optimizer": "optimizers",
    "canonical_optimizer_name": "optimizers",
    "CUSTOM_SCHEDULER": "schedulers",
    "SCHEDULERS": "schedulers",
    "CosineAnnealingWarmupRestarts": "schedulers",
    "build_scheduler": "schedulers",
    "resolve_warmup_steps": "schedulers",
    "lr_curve": "preview",
}

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "CUSTOM_SCHEDULER",
    "BuiltOptimizer",
    "OptimizerInfo",
    "CosineAnnealingWarmupRestarts",
    "build_optimizer",
    "build_scheduler",
    "canonical_optimizer_name",
    "format_args",
    "lr_curve",
    "parse_optimizer_args",
    "resolve_warmup_steps",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
