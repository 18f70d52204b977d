"""Optimizers by their sd-scripts names (``optimizer_type``), built like sd-scripts' ``get_optimizer``.

Differences from sd-scripts, all deliberate:

* ``Lion`` uses ``lion_pytorch.Lion`` when that package is installed, else bitsandbytes' 32-bit
  ``bnb.optim.Lion`` (same algorithm; sd-scripts fails without lion_pytorch).
* Adaptive optimizers (D-Adaptation family, Prodigy): the installed dadaptation / prodigyopt raise
  ``RuntimeError`` on the first step when parameter groups have different non-zero learning rates
  (unet_lr != text_encoder_lr). We set every non-zero group to ``learning_rate`` instead and say so
  in ``warnings``; sd-scripts only logs that "the first one takes effect" and then crashes.
* Warnings are returned as sentences (``BuiltOptimizer.warnings``) instead of logged.
* User errors (unknown name, bad ``optimizer_args``) raise :class:`trainer.errors.ConfigError`.

CPU: every optimizer here steps on CPU tensors with the installed bitsandbytes (0.50): the 8-bit
ones (AdamW8bit, Lion8bit, SGDNesterov8bit) run bitsandbytes' CPU kernels; the ``Paged*`` ones fall
back to ordinary (non-paged) state on CPU, which we report as a warning.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from trainer.errors import ConfigError
from trainer.optim.args import format_args, parse_optimizer_args


@dataclass(frozen=True)
class OptimizerInfo:
    """What the GUI and the VRAM estimator need to know about an optimizer.

    ``state_bytes_per_param``: optimizer state kept per trainable parameter, in bytes, for fp32
    trainable parameters (LoRA weights are fp32 unless ``full_bf16``). For the non-8-bit optimizers the
    state tensors have the parameter's dtype, so halve the number for bf16 parameters
    (``state_bytes(param_bytes=2)``). The 8-bit optimizers keep uint8 state plus one fp32 absmax per
    256-value block (+0.016 byte per state); bitsandbytes keeps tensors under 4096 values
    (``min_8bit_size``) in 32-bit state, which matters little for LoRA matrices.
    """

    name: str
    library: str
    is_adaptive: bool
    is_8bit: bool
    state_bytes_per_param: float
    state_note: str
    description: str

    def state_bytes(self, param_bytes: int = 4) -> float:
        """Optimizer state per parameter, in bytes, for parameters of ``param_bytes`` bytes each."""
        if self.is_8bit:
            return self.state_bytes_per_param
        return self.state_bytes_per_param * param_bytes / 4


_BLOCK = 4 / 256  # one fp32 absmax per 256-value block of 8-bit state

OPTIMIZERS: dict[str, OptimizerInfo] = {
    i.name: i
    for i in [
        OptimizerInfo("AdamW", "torch", False, False, 8, "exp_avg + exp_avg_sq (2 x fp32)",
                      "Adam with decoupled weight decay; the usual choice, lr about 1e-4."),
        OptimizerInfo("AdamW8bit", "bitsandbytes", False, True, 2 + 2 * _BLOCK,
                      "2 x uint8 blockwise-quantized states + absmax",
                      "AdamW with 8-bit state: the community default, less memory than AdamW."),
        OptimizerInfo("PagedAdamW8bit", "bitsandbytes", False, True, 2 + 2 * _BLOCK,
                      "as AdamW8bit; paged to CPU memory under GPU memory pressure (CUDA only)",
                      "AdamW8bit whose state can be paged out of GPU memory."),
        OptimizerInfo("PagedAdamW", "bitsandbytes", False, False, 8, "as AdamW, paged (CUDA only)",
                      "32-bit AdamW whose state can be paged out of GPU memory."),
        OptimizerInfo("PagedAdamW32bit", "bitsandbytes", False, False, 8, "as AdamW, paged (CUDA only)",
                      "32-bit AdamW whose state can be paged out of GPU memory."),
        OptimizerInfo("Lion", "lion_pytorch or bitsandbytes", False, False, 4, "exp_avg (1 x fp32)",
                      "Lion: sign-based updates, needs a 3-10x lower lr than AdamW."),
        OptimizerInfo("Lion8bit", "bitsandbytes", False, True, 1 + _BLOCK, "1 x uint8 state + absmax",
                      "Lion with 8-bit state."),
        OptimizerInfo("PagedLion8bit", "bitsandbytes", False, True, 1 + _BLOCK,
                      "as Lion8bit, paged (CUDA only)",
                      "Lion8bit whose state can be paged out of GPU memory."),
        OptimizerInfo("SGDNesterov", "torch", False, False, 4, "momentum_buffer (1 x fp32)",
                      "SGD with Nesterov momentum (momentum 0.9 unless set)."),
        OptimizerInfo("SGDNesterov8bit", "bitsandbytes", False, True, 1 + _BLOCK,
                      "1 x uint8 momentum + absmax", "SGD with Nesterov momentum, 8-bit state."),
        OptimizerInfo("DAdaptation", "dadaptation", True, False, 12, "s, exp_avg, exp_avg_sq (3 x fp32)",
                      "D-Adaptation Adam (preprint version, = DAdaptAdamPreprint); set lr about 1.0."),
        OptimizerInfo("DAdaptAdamPreprint", "dadaptation", True, False, 12, "s, exp_avg, exp_avg_sq",
                      "D-Adaptation Adam, preprint version; set lr about 1.0."),
        OptimizerInfo("DAdaptAdaGrad", "dadaptation", True, False, 12,
                      "alphak, sk, x0 (+ weighted_sk with momentum > 0: 16)",
                      "D-Adaptation AdaGrad; set lr about 1.0."),
        OptimizerInfo("DAdaptAdam", "dadaptation", True, False, 12, "s, exp_avg, exp_avg_sq (3 x fp32)",
                      "D-Adaptation Adam; lr about 1.0, decouple=True weight_decay=0.01 betas=0.9,0.99."),
        OptimizerInfo("DAdaptAdan", "dadaptation", True, False, 20,
                      "s, exp_avg, exp_avg_diff, exp_avg_sq, pre_grad (5 x fp32)",
                      "D-Adaptation Adan; set lr about 1.0."),
        OptimizerInfo("DAdaptAdanIP", "dadaptation", True, False, 20,
                      "s, exp_avg, exp_avg_diff, exp_avg_sq, pre_grad",
                      "D-Adaptation Adan (IP variant); set lr about 1.0."),
        OptimizerInfo("DAdaptLion", "dadaptation", True, False, 8, "exp_avg, s (2 x fp32)",
                      "D-Adaptation Lion; set lr about 1.0."),
        OptimizerInfo("DAdaptSGD", "dadaptation", True, False, 12, "z, s, x0 (3 x fp32)",
                      "D-Adaptation SGD; set lr about 1.0."),
        OptimizerInfo("Prodigy", "prodigyopt", True, False, 16,
                      "s, p0, exp_avg, exp_avg_sq (4 x fp32; 12 with betas[0]=0; "
                      "slice_p=N shrinks s and p0 N-fold)",
                      "Prodigy: adapts its own step size; set lr about 1.0."),
        OptimizerInfo("AdaFactor", "transformers", True, False, 0.5,
                      "factored second moment: rows+cols values per matrix (about 4*(1/rank+1/width) bytes "
                      "per LoRA weight, ~0.1-1), + 4 with beta1 set; approximate",
                      "Adafactor: factored second moment, tiny state; relative_step=True sets its own lr."),
    ]
}

_BY_LOWER = {name.lower(): name for name in OPTIMIZERS}


@dataclass
class BuiltOptimizer:
    """Result of :func:`build_optimizer`.

    ``name``: the optimizer class's full name (``torch.optim.adamw.AdamW``); ``args``: the keyword
    arguments as sd-scripts records them (its defaults added, ``lr``/``nesterov`` not included);
    ``description``: what sd-scripts writes into the ``ss_optimizer`` metadata field;
    ``lr_scheduler_override``: set (``"adafactor:<lr>"``) when the optimizer dictates the scheduler
    (AdaFactor with ``relative_step=True``); pass it to ``build_scheduler`` instead of the user's choice.
    """

    optimizer: Any
    name: str
    args: dict[str, Any]
    is_adaptive: bool
    description: str
    optimizer_type: str = ""
    warnings: list[str] = field(default_factory=list)
    lr_scheduler_override: str | None = None
    info: OptimizerInfo | None = None


def canonical_optimizer_name(optimizer_type: str | None) -> str:
    """The catalogue spelling of a built-in name (case-insensitive), ``AdamW`` for an empty value,
    or the name unchanged when it is a ``module.Class`` or a ``torch.optim`` class name.

    Raises ConfigError for an unknown name, suggesting the closest one.
    """
    text = (optimizer_type or "").strip() or "AdamW"
    if text.lower() in _BY_LOWER:
        return _BY_LOWER[text.lower()]
    if "." in text:
        return text
    cls = getattr(torch.optim, text, None)
    if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer):
        return text
    candidates = list(OPTIMIZERS) + [
        n for n, c in vars(torch.optim).items() if inspect.isclass(c) and issubclass(c, torch.optim.Optimizer)
    ]
    lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(text.lower(), list(lower), n=1, cutoff=0.5)
    hint = f" Did you mean {lower[close[0]]}?" if close else f" Known names: {', '.join(OPTIMIZERS)}."
    raise ConfigError(f"optimizer_type '{text}' is not a known optimizer.{hint}")


def _import(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"optimizer_type {what} needs the Python package '{module.split('.')[0]}', "
                          f"which is not installed ({e}).") from e


def _resolve_class(canonical: str, kwargs: dict[str, Any]) -> Any:
    """The optimizer class for a canonical/qualified name; may adjust kwargs like sd-scripts."""
    key = canonical.lower()
    if key == "adamw":
        return torch.optim.AdamW
    if key == "sgdnesterov":
        return torch.optim.SGD
    if key == "lion":
        if importlib.util.find_spec("lion_pytorch") is not None:
            return _import("lion_pytorch", "Lion").Lion
        return _import("bitsandbytes", "Lion").optim.Lion
    if key in ("adamw8bit", "pagedadamw8bit", "pagedadamw", "pagedadamw32bit", "lion8bit", "pagedlion8bit",
               "sgdnesterov8bit"):
        bnb = _import("bitsandbytes", canonical)
        attr = {"adamw8bit": "AdamW8bit", "pagedadamw8bit": "PagedAdamW8bit", "pagedadamw": "PagedAdamW",
                "pagedadamw32bit": "PagedAdamW32bit", "lion8bit": "Lion8bit",
                "pagedlion8bit": "PagedLion8bit", "sgdnesterov8bit": "SGD8bit"}[key]
        cls = getattr(bnb.optim, attr, None)
        if cls is None:
            raise ConfigError(
                f"optimizer_type {canonical} needs a newer bitsandbytes than the one installed."
            )
        return cls
    if key.startswith("dadapt"):
        dadaptation = _import("dadaptation", canonical)
        experimental = _import("dadaptation.experimental", canonical)
        return {
            "dadaptation": experimental.DAdaptAdamPreprint,
            "dadaptadampreprint": experimental.DAdaptAdamPreprint,
            "dadaptadagrad": dadaptation.DAdaptAdaGrad,
            "dadaptadam": dadaptation.DAdaptAdam,
            "dadaptadan": dadaptation.DAdaptAdan,
            "dadaptadanip": experimental.DAdaptAdanIP,
            "dadaptlion": dadaptation.DAdaptLion,
            "dadaptsgd": dadaptation.DAdaptSGD,
        }[key]
    if key == "prodigy":
        return _import("prodigyopt", "Prodigy").Prodigy
    if key == "adafactor":
        return _import("transformers.optimization", "AdaFactor").Adafactor
    # any other optimizer: torch.optim.<Name> or module.Class (sd-scripts' fallback)
    if "." in canonical:
        module_name, _, cls_name = canonical.rpartition(".")
        module = _import(module_name, f"'{canonical}'")
    else:
        module, cls_name = torch.optim, canonical
    cls = getattr(module, cls_name, None)
    if cls is None or not callable(cls):
        raise ConfigError(
            f"optimizer_type '{canonical}' names no class: {module.__name__} has no '{cls_name}'."
        )
    return cls


def _group_lrs(param_groups: list[dict], learning_rate: float) -> list[float]:
    return [g.get("lr", learning_rate) for g in param_groups]


def _fmt(values) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in values)


def _params_on_cpu(param_groups: list[dict]) -> bool:
    for g in param_groups:
        for p in g["params"]:
            return p.device.type == "cpu"
    return True


def build_optimizer(
    optimizer_type: str | None,
    param_groups: Sequence[dict] | Sequence[torch.nn.Parameter],
    learning_rate: float,
    optimizer_args: Sequence[str] | Mapping[str, Any] | str | None = (),
    *,
    lr_scheduler: str | None = None,
    max_grad_norm: float | None = None,
) -> BuiltOptimizer:
    """Build ``optimizer_type`` over ``param_groups`` (dicts with ``params`` and optionally ``lr``; a
    plain list of parameters is one group) with ``learning_rate`` as the default lr.

    ``optimizer_args``: ``key=value`` strings (or a dict), parsed like sd-scripts.
    ``lr_scheduler`` / ``max_grad_norm``: only used for sd-scripts' AdaFactor advice in ``warnings``.
    The caller's group dicts are not modified.
    """
    canonical = canonical_optimizer_name(optimizer_type)
    info = OPTIMIZERS.get(canonical)
    kwargs = parse_optimizer_args(optimizer_args, "optimizer_args")
    groups = list(param_groups)
    if groups and not isinstance(groups[0], Mapping):
        groups = [{"params": groups}]
    groups = [dict(g, params=list(g["params"])) for g in groups]
    if not groups or not any(g["params"] for g in groups):
        raise ConfigError("There is nothing to train: the network has no trainable parameters.")
    if "lr" in kwargs:
        raise ConfigError("optimizer_args must not set lr; use learning_rate, unet_lr and text_encoder_lr.")
    warnings: list[str] = []
    key = canonical.lower()
    lr: float | None = learning_rate
    is_adaptive = bool(info and info.is_adaptive)
    override = None
    extra: dict[str, Any] = {}  # passed to the class but not recorded (as sd-scripts does with nesterov)

    if key in ("sgdnesterov", "sgdnesterov8bit"):
        if "momentum" not in kwargs:
            kwargs["momentum"] = 0.9  # sd-scripts: Nesterov needs momentum
        if kwargs.pop("nesterov", True) is not True:
            raise ConfigError(f"{canonical} always uses nesterov=True; remove nesterov from optimizer_args.")
        extra["nesterov"] = True

    elif key.startswith("dadapt") or key == "prodigy":
        from trainer.config.plan import adaptive_group_lrs  # the rule the previews draw too

        lrs, changed = adaptive_group_lrs(_group_lrs(groups, learning_rate), learning_rate)
        if changed:
            distinct = sorted({x for x in _group_lrs(groups, learning_rate) if x}, reverse=True)
            warnings.append(
                f"{canonical} adapts one learning rate for every part: the parts' learning rates differ "
                f"(e.g. unet_lr and text_encoder_lr: {_fmt(distinct)}), so all of them use "
                f"learning_rate={learning_rate:g}."
            )
            for g, lr in zip(groups, lrs):
                g["lr"] = lr
        actual_lr = max(_group_lrs(groups, learning_rate))
        if actual_lr <= 0.1:
            warnings.append(
                f"{canonical} chooses its own step size and expects a learning rate around 1.0, "
                f"but the learning rate is {actual_lr:g}."
            )

    elif key == "adafactor":
        kwargs.setdefault("relative_step", True)  # sd-scripts' default (transformers' too)
        if not kwargs["relative_step"] and kwargs.get("warmup_init", False):
            warnings.append("AdaFactor: relative_step is set to True because warmup_init=True needs it.")
            kwargs["relative_step"] = True
        if kwargs["relative_step"]:
            is_adaptive = True
            if learning_rate:
                warnings.append(
                    f"AdaFactor with relative_step=True computes its own learning rate; "
                    f"learning_rate={learning_rate:g} is only reported as the initial value."
                )
            if any([g.pop("lr", None) is not None for g in groups]):  # a list: pop from every group
                warnings.append("AdaFactor with relative_step=True ignores unet_lr and text_encoder_lr.")
            if lr_scheduler is not None and not str(lr_scheduler).startswith("adafactor"):
                warnings.append(
                    f"AdaFactor with relative_step=True replaces lr_scheduler '{lr_scheduler}' "
                    f"with 'adafactor'."
                )
            override = f"adafactor:{learning_rate}"
            lr = None
        else:
            is_adaptive = False
            if max_grad_norm is not None and max_grad_norm != 0.0:
                warnings.append("AdaFactor: max_grad_norm clips gradients; setting it to 0 may work better.")
            if lr_scheduler is not None and lr_scheduler != "constant_with_warmup":
                warnings.append("AdaFactor: lr_scheduler constant_with_warmup is recommended.")
            if kwargs.get("clip_threshold", 1.0) != 1.0:
                warnings.append("AdaFactor: clip_threshold=1.0 is recommended.")

    elif key.startswith("paged") and _params_on_cpu(groups):
        warnings.append(
            f"{canonical} pages its state only on a CUDA GPU; "
            f"on the CPU it works like the non-paged optimizer."
        )

    cls = _resolve_class(canonical, kwargs)
    try:
        optimizer = cls(groups, lr=lr, **kwargs, **extra)
    except (TypeError, ValueError, RuntimeError) as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if kwargs:
            raise ConfigError(
                f"optimizer_args ({format_args(kwargs)}) do not fit {canonical}: {detail}."
            ) from e
        raise ConfigError(f"optimizer_type {canonical} cannot be used with these settings: {detail}.") from e

    name = f"{cls.__module__}.{cls.__name__}"
    args_text = format_args(kwargs)
    description = name + (f"({args_text})" if args_text else "")
    if hasattr(optimizer, "train") and callable(optimizer.train):
        optimizer.train()  # schedule-free optimizers start in train mode (sd-scripts does the same)
    return BuiltOptimizer(
        optimizer=optimizer,
        name=name,
        args=kwargs,
        is_adaptive=is_adaptive,
        description=description,
        optimizer_type=canonical,
        warnings=warnings,
        lr_scheduler_override=override,
        info=info,
    )
