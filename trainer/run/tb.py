"""TensorBoard event files with sd-scripts' tag names (loss/current, loss/average, lr/<group>)."""
from __future__ import annotations

import time
from pathlib import Path


class TensorBoard:
    def __init__(self, logging_dir: str, log_prefix: str = ""):
        from torch.utils.tensorboard import SummaryWriter

        self.dir = Path(logging_dir) / f"{log_prefix}{time.strftime('%Y%m%d%H%M%S')}"
        self.writer = SummaryWriter(str(self.dir))

    def step(self, step: int, loss: float, avg: float, lrs: dict[str, float], extra: dict,
             dlrs: dict[str, float] | None = None) -> None:
        w = self.writer
        w.add_scalar("loss/current", loss, step)
        w.add_scalar("loss/average", avg, step)
        for name, lr in lrs.items():
            w.add_scalar(f"lr/{name}", lr, step)
        for name, value in (dlrs or {}).items():  # sd-scripts' tag for the adaptive optimizers' step size
            w.add_scalar(f"lr/d*lr/{name}", value, step)
        for key, value in extra.items():
            w.add_scalar(f"max_norm/{key}", value, step)

    def validation(self, step: int, loss: float, at_epoch_end: bool, train_avg: float | None) -> None:
        """loss/validation at every measurement; sd-scripts' step_/epoch_average and divergence (validation
        minus the training average) beside it."""
        w = self.writer
        w.add_scalar("loss/validation", loss, step)
        kind = "epoch" if at_epoch_end else "step"
        w.add_scalar(f"loss/validation/{kind}_average", loss, step)
        if train_avg is not None:
            w.add_scalar(f"loss/validation/{kind}_divergence", loss - train_avg, step)

    def close(self) -> None:
        self.writer.close()
