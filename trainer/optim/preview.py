"""The learning-rate curve of a scheduler before training (the GUI's preview), from the real scheduler
objects of trainer.optim.schedulers stepped on a do-nothing optimizer."""
from __future__ import annotations

import warnings as _warnings
from typing import Sequence

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..errors import ConfigError
from .schedulers import build_scheduler


class _PreviewOptimizer(torch.optim.Optimizer):
    """A do-nothing optimizer holding one 1-element parameter per group, for drawing lr curves.

    It skips ``Optimizer.__init__``: building a real torch optimizer the first time imports
    ``torch._dynamo`` (~1.8 s on a laptop CPU), which would freeze the GUI's first lr preview.
    Schedulers only read and write ``param_groups`` (and wrap ``step``), so they behave exactly as on a
    real optimizer.
    """

    def __init__(self, lrs: list[float], default_lr: float) -> None:  # noqa: D107 - no super().__init__
        self.defaults = {"lr": default_lr}
        self.param_groups = [{"params": [torch.zeros(1)], "lr": lr} for lr in lrs]
        self.state = {}
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}

    def step(self, closure=None):  # noqa: D102
        return None


def _dummy_optimizer(lrs: list[float], default_lr: float, adafactor: bool):
    if adafactor:
        from transformers.optimization import Adafactor

        return Adafactor([{"params": [torch.zeros(1, requires_grad=True)]} for _ in lrs], lr=None,
                         relative_step=True)
    return _PreviewOptimizer(lrs, default_lr)


def lr_curve(
    lr_scheduler: str = "constant",
    num_training_steps: int = 1000,
    learning_rate: float | Sequence[float] = 1e-4,
    *,
    group_lrs: Sequence[float] | None = None,
    **kwargs,
) -> list[list[float]]:
    """The lr of every parameter group at every optimizer step: ``result[step][group]``.

    Builds the real scheduler (same keyword arguments as :func:`build_scheduler`) on a do-nothing
    dummy optimizer with one 1-element parameter per group (transformers' Adafactor for ``adafactor``).
    ``learning_rate`` is the default lr (the one polynomial divides by); ``group_lrs`` the groups' lrs
    (default: one group at ``learning_rate``). A sequence as ``learning_rate`` means those group lrs
    with the first as default. For the LambdaLR-based schedulers the curve is read from the scheduler's
    own lambdas (identical to stepping it, and several times faster); other schedulers are stepped
    ``num_training_steps`` times (10,000 steps of a torch scheduler take about 45 ms).
    The ``adafactor`` curve is flat at the initial lr: AdaFactor's real lr depends on the gradients.
    """
    if not isinstance(learning_rate, (int, float)):
        group_lrs = list(learning_rate)
        learning_rate = group_lrs[0]
    lrs = [float(x) for x in (group_lrs if group_lrs is not None else [learning_rate])]
    if not lrs:
        raise ConfigError("lr_curve needs at least one learning rate.")
    name = (lr_scheduler or "constant").strip()
    adafactor = name.lower().startswith("adafactor") and not kwargs.get("lr_scheduler_type")
    if adafactor and ":" not in name:
        name = f"adafactor:{learning_rate}"
    optimizer = _dummy_optimizer(lrs, float(learning_rate), adafactor)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        sched = build_scheduler(optimizer, lr_scheduler=name, num_training_steps=num_training_steps, **kwargs)
        n = num_training_steps
        if isinstance(sched, LambdaLR) and type(sched).get_lr is LambdaLR.get_lr and sched.last_epoch == 0:
            bases, lams = list(sched.base_lrs), list(sched.lr_lambdas)
            if all(lam is lams[0] for lam in lams):  # one lambda for every group (always the case here)
                lam = lams[0]
                if len(bases) == 1:
                    base = bases[0]
                    return [[base * lam(i)] for i in range(n)]
                return [[base * m for base in bases] for m in map(lam, range(n))]
            return [[base * lam(i) for base, lam in zip(bases, lams)] for i in range(n)]
        out = []
        try:
            for _ in range(n):
                out.append([float(g["lr"]) for g in optimizer.param_groups])
                sched.step()
        except TypeError as e:
            raise ConfigError(f"This scheduler cannot be previewed without training data ({e}).") from e
        return out
