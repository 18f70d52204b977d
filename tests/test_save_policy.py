"""save_policy: sd-scripts' rules for which epoch/step files and states are kept, save_n_epoch_ratio, and where
initial_step / initial_epoch start a run; one real run checks the trainer follows them."""
from pathlib import Path

import pytest

from trainer.run import save_policy as SP
from trainer.config.fields import TrainConfig
from trainer.run.saving import Progress


def _cfg(**kw):
    return TrainConfig(output_dir="/out", output_name="x", **kw)


def test_save_n_epoch_ratio_spreads_files_like_sd_scripts():
    assert SP.every_n_epochs(_cfg(save_n_epoch_ratio=3, save_every_n_epochs=5), 10) == 3  # floor(10 / 3)
    assert SP.every_n_epochs(_cfg(save_n_epoch_ratio=20), 10) == 1
    assert SP.every_n_epochs(_cfg(save_every_n_epochs=2), 10) == 2
    assert [e for e in range(1, 11) if SP.saves_at_epoch(_cfg(save_n_epoch_ratio=3), e, 10)] == [3, 6, 9]


def test_step_files_and_states_follow_get_remove_step_no():
    # sd-scripts' own example: every 10 steps, keep 30 steps: at step 50 the file of step 10 goes
    cfg = _cfg(save_every_n_steps=10, save_last_n_steps=30)
    assert SP.step_removals(cfg, 50) == [Path("/out/x-step00000010.safetensors"),
                                         Path("/out/x-step00000010-state")]
    assert SP.step_removals(cfg, 40) == []
    cfg = _cfg(save_every_n_steps=10, save_last_n_steps=30, save_last_n_steps_state=10)
    assert SP.step_removals(cfg, 50) == [Path("/out/x-step00000010.safetensors"),
                                         Path("/out/x-step00000030-state")]


def test_epoch_states_can_be_kept_longer_or_shorter_than_files():
    cfg = _cfg(save_every_n_epochs=1, save_last_n_epochs=2, save_last_n_epochs_state=1)
    assert SP.epoch_removals(cfg, 4, 10) == [Path("/out/x-000002.safetensors"), Path("/out/x-000003-state")]
    assert SP.epoch_removals(_cfg(save_every_n_epochs=1, save_last_n_epochs_state=1), 4, 10) == \
        [Path("/out/x-000003-state")]


def test_state_on_train_end():
    assert SP.wants_state(_cfg(save_state_on_train_end=True), final=True)
    assert not SP.wants_state(_cfg(save_state_on_train_end=True), final=False)
    assert SP.wants_state(_cfg(save_state=True), final=False)


def test_initial_step_and_epoch():
    start = Progress(0, 0, 0, 7, 100)
    p, note = SP.initial_progress(_cfg(initial_step=25, skip_until_initial_step=True), start, 10, 2)
    assert (p.step, p.epoch, p.batch_in_epoch) == (25, 2, 10) and "skipped" in note
    p, _ = SP.initial_progress(_cfg(initial_step=25), start, 10, 2)
    assert (p.step, p.epoch, p.batch_in_epoch) == (20, 2, 0)
    p, _ = SP.initial_progress(_cfg(initial_epoch=3), start, 10, 1)
    assert (p.step, p.epoch) == (20, 2)
    assert SP.initial_progress(_cfg(), start, 10, 1) == (start, None)
    from trainer.errors import ConfigError

    with pytest.raises(ConfigError, match="initial_step 100"):
        SP.initial_progress(_cfg(initial_step=100), start, 10, 1)


@pytest.mark.slow
def test_trainer_keeps_the_last_steps_starts_at_initial_step_and_saves_the_end_state(tiny_ckpt, dataset,
                                                                                      tmp_path):
    from conftest import quick_config, run_training

    from trainer import events as ev

    out = tmp_path / "out"
    cfg = quick_config(tiny_ckpt("sd1"), dataset, out, max_train_steps=8, save_every_n_steps=2,
                       save_last_n_steps=2, save_state_on_train_end=True, initial_step=2,
                       skip_until_initial_step=True)
    path, events = run_training(cfg)
    steps = [e.step for e in events if isinstance(e, ev.Step)]
    assert steps == [3, 4, 5, 6, 7, 8]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["lora-state", "lora-step00000004.safetensors", "lora-step00000006.safetensors",
                     "lora.safetensors"]
