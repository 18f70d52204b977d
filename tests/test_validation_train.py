"""Validation loss on the tiny SD 1.x model: held-out images never train, the loss is the same for the same
seed, it goes to TensorBoard, and a resumed run keeps the held-out images."""
import pytest
from conftest import make_dataset, quick_config, run_training, train_data

from trainer import events as ev
from trainer.run.step import StepModel


@pytest.fixture
def seen(monkeypatch):
    """Paths of every image a training step used (the real loss runs; this only looks)."""
    paths: list[str] = []
    real = StepModel.loss

    def loss(self, batch, **kw):
        if not kw:  # a training step (validation passes fixed noise and timesteps)
            paths.extend(batch["paths"])
        return real(self, batch, **kw)

    monkeypatch.setattr(StepModel, "loss", loss)
    return paths


def _config(tiny_ckpt, tmp_path, **kw):
    data = make_dataset(tmp_path / "data", {"2_redcircle": 3, "1_bluesquare": 3})
    base = dict(max_train_steps=2, validation_split=0.3, validate_every_n_steps=1, save_every_n_steps=1,
                save_state=True)
    base.update(kw)
    return quick_config(tiny_ckpt("sd1"), data, tmp_path / "out", **base)


def _held_out(events) -> str:
    return next(e.message for e in events if isinstance(e, ev.Log) and e.message.startswith("Validation:"))


def test_held_out_images_never_train_and_the_loss_is_logged(tiny_ckpt, tmp_path, seen):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _config(tiny_ckpt, tmp_path, logging_dir=str(tmp_path / "logs"))
    _, events = run_training(cfg)
    vals = [e for e in events if isinstance(e, ev.Validation)]
    # the run ends inside its first epoch: that epoch's end measures too (as sd-scripts does), without
    # computing again what step 2 just measured
    assert [(v.step, v.at_epoch_end) for v in vals] == [(1, False), (2, False), (2, True)]
    assert vals[1].loss == vals[2].loss
    assert all(v.loss > 0 for v in vals)
    text = _held_out(events)
    assert "2 image(s)" in text  # one of each concept's three images
    held = [name.strip(" ()") for name in text.split("(", 1)[1].split(",")]
    assert len(held) == 2 and seen
    assert not [p for p in seen if any(p.replace("\\", "/").endswith(h) for h in held)]
    assert (tmp_path / "out" / "lora-step00000001-state" / "validation.json").is_file()
    (run,) = list((tmp_path / "logs").iterdir())
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert [s.value for s in acc.Scalars("loss/validation")] == pytest.approx([v.loss for v in vals])
    assert "loss/validation/step_divergence" in acc.Tags()["scalars"]

    # the same seed gives the same validation losses; a resumed run with another seed keeps the split
    resumed_cfg = cfg.replace(resume=str(tmp_path / "out" / "lora-step00000001-state"), seed=7,
                              output_name="resumed", logging_dir="")
    _, resumed = run_training(resumed_cfg)
    assert _held_out(resumed) == text
    again = [e for e in resumed if isinstance(e, ev.Validation)]
    assert [v.step for v in again] == [2, 2]


@pytest.mark.slow
def test_validation_loss_is_deterministic_for_a_seed(tiny_ckpt, tmp_path):
    a = [e.loss for e in run_training(_config(tiny_ckpt, tmp_path / "a"))[1] if isinstance(e, ev.Validation)]
    b = [e.loss for e in run_training(_config(tiny_ckpt, tmp_path / "b"))[1] if isinstance(e, ev.Validation)]
    assert a == b and len(a) == 3


AUGMENTATIONS = {"flip_aug": True, "random_crop": True, "color_aug": True, "shuffle_caption": True,
                 "caption_tag_dropout_rate": 0.5}


@pytest.mark.parametrize("where", ["folder", "run"])
def test_augmentation_never_reaches_the_validation_images(tmp_path, where):
    """flip_aug / random_crop / color_aug / shuffle_caption / caption dropout, whether a dataset-config folder
    sets them or the run does, are turned off for the held-out images (the folder's used to apply)."""
    import numpy as np
    from PIL import Image

    from trainer.config.fields import TrainConfig
    from trainer.dataset.buckets import crop_for
    from trainer.dataset.subsets import option
    from trainer.validation.loss import Validator

    data = make_dataset(tmp_path / "data", {"1_wide": 6}, size=(96, 64))  # wider than its 64 px bucket
    toml = tmp_path / "ds.toml"
    toml.write_text(f"""[[datasets]]
resolution = 64
  [[datasets.subsets]]
  image_dir = "{(data / '1_wide').as_posix()}"
""" + ("".join(f"  {k} = {str(v).lower()}\n" for k, v in AUGMENTATIONS.items()) if where == "folder" else ""),
                    encoding="utf-8")
    cfg = TrainConfig(dataset_config=str(toml), validation_split=0.5, **(AUGMENTATIONS if where == "run" else {}))
    items = train_data(cfg).items
    validator = Validator(items, cfg, seed=1)
    loaded = validator.data()
    for b in range(len(validator.items)):
        batch = loaded[b]
        item = validator.items[batch["indices"][0]]
        assert not loaded.last_flip
        a = item.assignment
        with Image.open(item.entry.path) as im:
            expected = im.convert("RGB").resize(a.resized, Image.Resampling.LANCZOS).crop(crop_for(a))
        want = np.asarray(expected, dtype=np.float32) / 127.5 - 1.0
        assert np.allclose(batch["pixels"][0].permute(1, 2, 0).numpy(), want, atol=1e-6)  # centred, as is
        assert batch["captions"] == [item.entry.caption]  # as written: not shuffled, no tag dropped
    assert option(items[0].entry.concept, cfg, "flip_aug") is True  # the training still flips
