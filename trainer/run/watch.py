"""What the training loop does besides training: sample images, the validation loss, d*lr of adaptive
optimizers, the EMA of the weights. The loop calls four hooks (at_start, after_step, after_epoch, finish)
and saves files through save_network/save_state; the rules of each feature live here and in
trainer.sampling, trainer.validation and trainer.run.ema."""
from __future__ import annotations

from trainer import events as ev


def held_out(items: list, repeats: list, cfg, seed: int, emit):
    """Take the validation images out of ``items``/``repeats`` (in place) -> a Validator, or None."""
    from trainer.validation.loss import Validator
    from trainer.validation.split import split_items

    train, train_repeats, held = split_items(items, repeats, cfg, seed)
    if not cfg.validation_split:
        return None
    if not held:
        emit(ev.Log(f"validation_split {cfg.validation_split:g} holds out no image: every concept folder keeps "
                    "at least one training image. No validation loss is measured.", "warning"))
        return None
    items[:], repeats[:] = train, train_repeats
    names = ", ".join(sorted(f"{i.entry.concept.folder_name}/{i.entry.path.name}" for i in held)[:5])
    emit(ev.Log(f"Validation: {len(held)} image(s) held out of training ({names}{', ...' if len(held) > 5 else ''})"))
    return Validator(held, cfg, seed)


def d_times_lr(optimizer, names: list[str], optimizer_type: str) -> dict[str, float]:
    """Prodigy and the D-Adaptation family scale the scheduled lr by their estimate d: d*lr per parameter
    group is the step size they really take (sd-scripts logs it as lr/d*lr/<group>). {} for others."""
    from trainer.config.validate import is_adaptive

    if optimizer is None or not is_adaptive(optimizer_type):
        return {}
    return {name: float(g["d"]) * float(g["lr"]) for name, g in zip(names, optimizer.param_groups) if "d" in g}


class Watch:
    def __init__(self, trainer, base, model, network, opt, tb):
        from trainer.sampling.renderer import SampleRenderer

        self.cfg, self.rt, self.emit, self.stop = trainer.cfg, trainer.rt, trainer.emit, trainer.stop
        self.tb, self.opt, self.group_names, self.network = tb, opt, trainer.optim.group_names, network
        self._last_validation: tuple[int, float] | None = None
        self.samples = SampleRenderer(self.cfg, base, network, self.rt, self.emit, self.stop)
        self.validator = trainer.validator.bind(model, network, self.rt) if trainer.validator else None
        self.ema = self._make_ema(network)

    def _make_ema(self, network):
        from trainer.run.ema import WeightEMA

        cfg = self.cfg
        kind = str(cfg.ema).lower()
        if kind == "off":
            return None
        ema = WeightEMA(network.parameters(), cfg.ema_decay, cfg.ema_update_step_interval,
                        self.rt.device if kind == "gpu" else "cpu")
        if cfg.resume and not ema.load(cfg.resume):
            self.emit(ev.Log(f"{cfg.resume} holds no EMA weights: the average starts again from the resumed "
                             "weights.", "warning"))
        self.emit(ev.Log(f"EMA of the network weights on the {kind.upper()}: decay {cfg.ema_decay:g}, every "
                         f"{ema.interval} step(s)"))
        return ema

    def _sample(self, step: int, epoch: int | None, *, first: bool = False) -> None:
        from trainer.sampling.schedule import sample_due

        if self.rt.is_main and not self.stop.is_set() and sample_due(self.cfg, step, epoch, first=first):
            self.samples.render(step, epoch)

    def _validate(self, step: int, epoch: int, at_epoch_end: bool, train_avg: float | None) -> None:
        if self.validator is None or not self.rt.is_main or self.stop.is_set() or \
                not self.validator.due(step, epoch, at_epoch_end):
            return
        if self._last_validation and self._last_validation[0] == step:  # no step since: the same value
            loss = self._last_validation[1]
        else:
            loss = self.validator.loss()
        self._last_validation = (step, loss)
        self.emit(ev.Validation(step, epoch, loss, at_epoch_end))
        where = f"epoch {epoch}" if at_epoch_end else f"step {step}"
        self.emit(ev.Log(f"Validation loss at {where}: {loss:.5f}"))
        if self.tb:
            self.tb.validation(step, loss, at_epoch_end, train_avg)

    def main_weights(self):
        """Context in which the network holds the weights the LoRA files get: the EMA with ema_save ema_only."""
        import contextlib

        if self.ema is not None and self.cfg.ema_save == "ema_only":
            return self.ema.swapped_in()
        return contextlib.nullcontext()

    def save_twin(self, network, base, path, metadata: dict, precision) -> None:
        """ema_save both: the averaged weights beside the LoRA file, as <name>-ema.safetensors."""
        if self.ema is None or self.cfg.ema_save == "ema_only":
            return
        from trainer.run.ema import ema_path
        from trainer.run.saving import save_network

        with self.ema.swapped_in():
            save_network(network, base, ema_path(path), metadata, precision)
        self.emit(ev.Log(f"saved the EMA weights to {ema_path(path)}"))

    def save_state(self, folder) -> None:
        """What a resumed run needs besides the network and optimizer: the held-out images, the EMA."""
        if self.ema is not None:
            self.ema.save(folder)
        if self.validator is not None:
            from trainer.validation.split import save_split

            save_split(folder, self.validator.paths)

    # --- the loop's hooks
    def at_start(self, step: int, epoch: int) -> None:
        self._sample(step, epoch, first=True)

    def after_step(self, step: int, epoch: int, avg_loss: float) -> None:
        """``epoch``: the loop's 0-based epoch counter of the step just done."""
        if self.ema is not None:
            self.ema.update(step)
        self._sample(step, None)
        self._validate(step, epoch + 1, False, avg_loss)

    def finish(self) -> None:
        """The closing figure of an adaptive optimizer: the step size it settled at."""
        dlrs = d_times_lr(self.opt, self.group_names, self.cfg.optimizer_type)
        if dlrs:
            figures = ", ".join(f"{v:.3g} ({k})" for k, v in dlrs.items())
            self.emit(ev.Log(f"{self.cfg.optimizer_type} settled at d*lr = {figures}."))

    def after_epoch(self, epoch: int, step: int, avg_loss: float | None) -> None:
        """``epoch``: epochs done (1-based number of the epoch that just ended)."""
        self._validate(step, epoch, True, avg_loss)
        self._sample(step, epoch)
