"""trainer.config.plan: the one answer to what a run does. The plan the window previews is the plan the trainer runs."""
import threading

import pytest

from conftest import quick_config
from trainer import events as ev
from trainer.config.fields import TrainConfig
from trainer.config.plan import LrGroup, adaptive_group_lrs, dataset_bucket_counts, is_adaptive, resolve
from trainer.config.presets import apply_preset, list_presets


def _cfg(**kw):
    return TrainConfig(**kw)


def test_what_trains():
    assert resolve(_cfg()).train_unet and resolve(_cfg()).train_text_encoder
    only_unet = resolve(_cfg(network_train_unet_only=True))
    assert only_unet.train_unet and not only_unet.train_text_encoder
    only_te = resolve(_cfg(network_train_text_encoder_only=True))
    assert not only_te.train_unet and only_te.train_text_encoder
    cached = resolve(_cfg(cache_text_encoder_outputs_to_disk=True))  # cached outputs: the encoder cannot train
    assert cached.cache_text_encoder_outputs and not cached.train_text_encoder
    assert cached.group_names == ["unet"]
    assert resolve(_cfg(cache_latents_to_disk=True)).cache_latents


def test_groups_and_learning_rates():
    plan = resolve(_cfg(learning_rate=1e-4, unet_lr=2e-4, text_encoder_lr=5e-5))
    assert plan.groups == (LrGroup("unet", 2e-4), LrGroup("textencoder", 5e-5))
    assert resolve(_cfg(learning_rate=3e-4)).groups == (LrGroup("unet", 3e-4), LrGroup("textencoder", 3e-4))


def test_adaptive_optimizers_run_every_group_at_learning_rate():
    plan = resolve(_cfg(optimizer_type="Prodigy", learning_rate=1.0, unet_lr=1.0, text_encoder_lr=0.5))
    assert plan.optimizer_adaptive and plan.groups == (LrGroup("unet", 1.0), LrGroup("textencoder", 1.0))
    assert "Prodigy" in plan.optimizer_note
    # one non-zero lr: left as it is (the optimizer does not touch it either)
    plan = resolve(_cfg(optimizer_type="DAdaptAdam", learning_rate=1.0, unet_lr=0.5, network_train_unet_only=True))
    assert plan.groups == (LrGroup("unet", 0.5),)
    assert adaptive_group_lrs([1.0, 0.0, 0.5], 2.0) == ([2.0, 0.0, 2.0], True)
    assert adaptive_group_lrs([0.5, 0.5], 2.0) == ([0.5, 0.5], False)


def test_adaptive_names_agree_with_the_optimizer_catalogue():
    from trainer.optim.optimizers import OPTIMIZERS

    for name, info in OPTIMIZERS.items():
        if name == "AdaFactor":  # adaptive only with relative_step: the plan's scheduler_from_optimizer
            continue
        assert is_adaptive(name) == info.is_adaptive, name


def test_adafactor_relative_step_replaces_the_scheduler():
    plan = resolve(_cfg(optimizer_type="AdaFactor", lr_scheduler="cosine"))
    assert plan.scheduler_from_optimizer and plan.lr_scheduler == "adafactor"
    plan = resolve(_cfg(optimizer_type="AdaFactor", optimizer_args=["relative_step=False"],
                        lr_scheduler="cosine"))
    assert not plan.scheduler_from_optimizer and plan.lr_scheduler == "cosine"


def test_step_marks():
    counts = {(512, 512): 10, (448, 576): 5}  # batches of 2: 5 + 3 = 8 per epoch
    plan = resolve(_cfg(train_batch_size=2, max_train_epochs=4, save_every_n_epochs=1), counts)
    assert plan.steps.steps_per_epoch == 8 and plan.total_steps == 32
    assert plan.epoch_steps == (8, 16, 24)
    assert plan.save_steps == (8, 16, 24, 32)
    plan = resolve(_cfg(max_train_steps=10, save_every_n_steps=4))
    assert plan.steps is None and plan.save_steps == (4, 8, 10)


def _trainer_plan(cfg):
    """Run the trainer until its optimizer exists, then stop it before the first step (nothing written)."""
    from trainer.run.trainer import Trainer

    stop = threading.Event()

    def on_event(e):
        if isinstance(e, ev.Started):
            stop.set()  # everything is built; the run stops before its first step

    t = Trainer(cfg, on_event, stop)
    assert t.run() is None
    return t


@pytest.mark.parametrize("preset", sorted(list_presets()))
def test_the_window_previews_the_plan_the_trainer_runs(preset, tiny_ckpt, dataset, tmp_path):
    family = "sdxl" if preset.startswith("sdxl") else "sd1"
    cfg = apply_preset(quick_config(tiny_ckpt(family), dataset, tmp_path / "out"), preset)
    # the tiny model at a tiny resolution; everything else as the preset sets it
    cfg = cfg.replace(resolution="64,64", min_bucket_reso=64, max_bucket_reso=128, bucket_reso_steps=64,
                      mixed_precision="no", full_bf16=False, full_fp16=False, fp8_base=False,
                      max_data_loader_n_workers=0, optimizer_type=cfg.optimizer_type.replace("8bit", ""))
    window = resolve(cfg, dataset_bucket_counts(cfg))
    t = _trainer_plan(cfg)
    assert t.run_plan == window
    opt_groups = t.optim.optimizer.param_groups
    assert [g["name"] for g in opt_groups] == window.group_names == t.optim.group_names
    if not window.scheduler_from_optimizer:
        assert [g["initial_lr"] for g in opt_groups] == pytest.approx([g.lr for g in window.groups])
    assert not list((tmp_path / "out").glob("*.safetensors"))


def test_save_marks_follow_save_n_epoch_ratio_as_the_run_does():
    from trainer.run.save_policy import saves_at_epoch

    counts = {(512, 512): 10}  # batch 1: 10 steps per epoch
    cfg = _cfg(max_train_epochs=10, save_n_epoch_ratio=2)
    plan = resolve(cfg, counts)
    assert plan.save_steps == (50, 100)  # floor(10 / 2) = every 5 epochs, and the final file
    assert [e for e in range(1, 11) if saves_at_epoch(cfg, e, 10)] == [5]
