"""The metadata a config field carries (group, help, choices, range, unit, ...) and the choice lists, from which
the forms and the command line are built (trainer/config/fields.py declares the fields). No torch, no Qt."""
from __future__ import annotations

from dataclasses import field
from typing import Any

GROUPS = {
    "model": "Model",
    "dataset": "Dataset and captions",
    "network": "Network",
    "optimizer": "Optimizer and scheduler",
    "loss": "Loss and noise",
    "memory": "Precision and memory",
    "saving": "Length, saving and logging",
    "watch": "Samples, validation and EMA",
}


def opt(default: Any, group: str, help: str, *, choices: tuple | None = None, min: float | None = None,
        max: float | None = None, unit: str = "", recommended: Any = None, label: str = "",
        advanced: bool = False) -> Any:
    """A config field with the metadata forms and the CLI are generated from."""
    meta = {"group": group, "help": help, "choices": choices, "min": min, "max": max, "unit": unit,
            "recommended": recommended, "label": label, "advanced": advanced}
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata=meta)
    return field(default=default, metadata=meta)


OPTIMIZER_CHOICES = (
    "AdamW", "AdamW8bit", "PagedAdamW8bit", "Lion", "Lion8bit", "PagedLion8bit", "SGDNesterov",
    "SGDNesterov8bit", "DAdaptation", "DAdaptAdamPreprint", "DAdaptAdaGrad", "DAdaptAdam", "DAdaptAdan",
    "DAdaptAdanIP", "DAdaptLion", "DAdaptSGD", "Prodigy", "AdaFactor",
)
SCHEDULER_CHOICES = (
    "constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial",
    "cosine_with_min_lr", "warmup_stable_decay", "inverse_sqrt", "adafactor", "cosine_annealing_warmup_restarts",
)
NETWORK_MODULES = ("networks.lora", "networks.dylora", "lycoris.kohya")
SAMPLE_SAMPLERS = ("ddim", "pndm", "lms", "euler", "euler_a", "heun", "dpm_2", "dpm_2_a", "dpmsolver",
                   "dpmsolver++", "dpmsingle", "k_lms", "k_euler", "k_euler_a", "k_dpm_2", "k_dpm_2_a")
DYNAMO_BACKENDS = ("inductor", "cudagraphs", "aot_eager", "eager")  # those of sd-scripts' list torch still has
SAVE_PRECISIONS = ("fp16", "bf16", "float")  # sd-scripts' names; "float" is fp32
SAVE_PRECISION_ALIASES = {"fp32": "float"}  # stored as sd-scripts' name: a saved config stays valid there
RESIZE_CHOICES = (None, "lanczos", "nearest", "bilinear", "linear", "bicubic", "cubic", "area")
