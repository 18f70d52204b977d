"""Which files a run writes and deletes at an epoch or step end, and where it starts counting: sd-scripts'
save_every_n_epochs / save_n_epoch_ratio, save_last_n_epochs(_state), save_every_n_steps,
save_last_n_steps(_state), save_state / save_state_on_train_end and initial_epoch / initial_step /
skip_until_initial_step (train_network.py, library/train_util.py get_remove_*_no, save_and_remove_state_*).
Pure decisions on numbers and paths; the trainer does the writing."""
from __future__ import annotations

import shutil
from pathlib import Path

from trainer.config.plan import every_n_epochs
from trainer.run.saving import Progress, epoch_file, state_dir, step_file


def saves_at_epoch(cfg, epoch: int, epochs: int) -> bool:
    every = every_n_epochs(cfg, epochs)
    return bool(every) and epoch < epochs and epoch % every == 0


def epoch_removals(cfg, epoch: int, epochs: int) -> list[Path]:
    """After saving epoch `epoch`: the epoch file and the state that fell out of the kept window."""
    every, out = every_n_epochs(cfg, epochs), []
    if cfg.save_last_n_epochs and epoch - every * cfg.save_last_n_epochs > 0:
        out.append(epoch_file(cfg.output_dir, cfg.output_name, epoch - every * cfg.save_last_n_epochs))
    keep_states = cfg.save_last_n_epochs_state or cfg.save_last_n_epochs
    if keep_states and epoch - every * keep_states > 0:
        out.append(state_dir(epoch_file(cfg.output_dir, cfg.output_name, epoch - every * keep_states)))
    return out


def _old_step(step: int, last_n: int, every: int) -> int:
    """sd-scripts' get_remove_step_no: the multiple of `every` just older than the last `last_n` steps."""
    old = step - last_n - 1
    return old - old % every


def step_removals(cfg, step: int) -> list[Path]:
    """After saving step `step`: the step file and the step state older than the kept window."""
    every, out = cfg.save_every_n_steps, []
    if not every:
        return out
    if cfg.save_last_n_steps and _old_step(step, cfg.save_last_n_steps, every) > 0:
        out.append(step_file(cfg.output_dir, cfg.output_name, _old_step(step, cfg.save_last_n_steps, every)))
    keep_states = cfg.save_last_n_steps_state or cfg.save_last_n_steps
    if keep_states and _old_step(step, keep_states, every) > 0:
        out.append(state_dir(step_file(cfg.output_dir, cfg.output_name, _old_step(step, keep_states, every))))
    return out


def remove(paths: list[Path]) -> None:
    """Delete saved files / state folders this run wrote earlier (only ever names built above); a LoRA file's
    EMA twin (ema_save both) goes with it."""
    from trainer.run.ema import ema_path

    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
            ema_path(p).unlink(missing_ok=True)


def wants_state(cfg, final: bool) -> bool:
    return bool(cfg.save_state or (final and cfg.save_state_on_train_end))


def initial_progress(cfg, progress: Progress, steps_per_epoch: int, accum: int) -> tuple[Progress, str | None]:
    """initial_step (or initial_epoch) -> where the run starts, and the sentence that says so. The count of
    steps starts there, so the run trains total - initial steps (as sd-scripts). With skip_until_initial_step
    the batches of the skipped steps are passed over, so the data order goes on as if they had been trained;
    without it the run starts at the first batch of the epoch that step falls in. The learning-rate schedule
    starts from its beginning unless a state is resumed, as in sd-scripts."""
    if cfg.initial_step is None and cfg.initial_epoch is None:
        return progress, None
    start = cfg.initial_step if cfg.initial_step is not None else (cfg.initial_epoch - 1) * steps_per_epoch
    if start <= 0:
        return progress, None
    if start >= progress.total_steps:
        from trainer.errors import ConfigError

        raise ConfigError(f"initial_step {start} is not below the run's {progress.total_steps} steps; raise "
                          "max_train_steps or max_train_epochs.")
    epoch = start // steps_per_epoch
    if cfg.skip_until_initial_step:
        batch = (start - epoch * steps_per_epoch) * accum
        return (Progress(start, epoch, batch, progress.session_id, progress.total_steps),
                f"Starting at step {start} (epoch {epoch + 1}); the batches of the earlier steps are skipped.")
    step = epoch * steps_per_epoch
    return (Progress(step, epoch, 0, progress.session_id, progress.total_steps),
            f"Starting at epoch {epoch + 1} (step {step}) because of initial_step {start}.")
