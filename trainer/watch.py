"""What the training loop reports besides the loss: sample images, the validation loss (and, with
adaptive optimizers, d*lr). The loop calls four hooks (at_start, after_step, after_epoch, finish); every
rule about when each thing happens lives here and in trainer.sampling / trainer.validation."""
from __future__ import annotations

from . import events as ev


class Watch:
    def __init__(self, trainer, base, model, network, tb):
        from .sampling.renderer import SampleRenderer

        self.cfg, self.rt, self.emit, self.stop = trainer.cfg, trainer.rt, trainer.emit, trainer.stop
        self.tb = tb
        self.samples = SampleRenderer(self.cfg, base, network, self.rt, self.emit, self.stop)
        self.validator = trainer.validator.bind(model, network, self.rt) if getattr(trainer, "validator", None) \
            else None

    def _sample(self, step: int, epoch: int | None, *, first: bool = False) -> None:
        from .sampling.schedule import sample_due

        if self.rt.is_main and not self.stop.is_set() and sample_due(self.cfg, step, epoch, first=first):
            self.samples.render(step, epoch)

    def _validate(self, step: int, epoch: int, at_epoch_end: bool, train_avg: float | None) -> None:
        if self.validator is None or self.stop.is_set() or not self.validator.due(step, epoch, at_epoch_end):
            return
        loss = self.validator.loss()
        self.emit(ev.Validation(step, epoch, loss, at_epoch_end))
        where = f"epoch {epoch}" if at_epoch_end else f"step {step}"
        self.emit(ev.Log(f"Validation loss at {where}: {loss:.5f}"))
        if self.tb:
            self.tb.validation(step, loss, at_epoch_end, train_avg)

    # --- the loop's hooks
    def at_start(self, step: int, epoch: int) -> None:
        self._sample(step, epoch, first=True)

    def after_step(self, step: int, epoch: int, avg_loss: float) -> None:
        """``epoch``: the loop's 0-based epoch counter of the step just done."""
        self._sample(step, None)
        self._validate(step, epoch + 1, False, avg_loss)

    def after_epoch(self, epoch: int, step: int, avg_loss: float | None) -> None:
        """``epoch``: epochs done (1-based number of the epoch that just ended)."""
        self._validate(step, epoch, True, avg_loss)
        self._sample(step, epoch)
