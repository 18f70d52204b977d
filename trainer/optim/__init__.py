"""Optimizers and learning-rate schedulers by their sd-scripts names (``optimizer_type``, ``lr_scheduler``).

Importing this package imports torch; bitsandbytes, transformers, dadaptation and prodigyopt are only
imported when an optimizer or scheduler that needs them is built.
"""

from trainer.optim.args import format_args, parse_optimizer_args
from trainer.optim.optimizers import (
    OPTIMIZERS,
    BuiltOptimizer,
    OptimizerInfo,
    build_optimizer,
    canonical_optimizer_name,
)
from trainer.optim.schedulers import (
    CUSTOM_SCHEDULER,
    SCHEDULERS,
    CosineAnnealingWarmupRestarts,
    build_scheduler,
    resolve_warmup_steps,
)
from trainer.optim.preview import lr_curve

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
