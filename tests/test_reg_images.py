"""Regularization images (reg_data_dir, prior_loss_weight): sd-scripts' repeat balancing, the steps math, the
loss weight of a reg image and the ss_* metadata."""
import json

import pytest
import torch
from conftest import make_dataset, quick_config, run_training, train_data

from trainer.dataset.reg import balance_reg_repeats


@pytest.mark.parametrize("is_reg, repeats, want", [
    ([False, True, True, True], [10, 1, 1, 1], [10, 4, 3, 3]),   # repeated in turn up to the training count
    ([False, True, True, True], [2, 1, 1, 1], [2, 1, 1, 0]),     # more reg than training: the last unused
    ([False, False, True, True], [2, 1, 5, 5], [2, 1, 5, 0]),    # the first pass keeps a folder's repeats
    ([False, False], [3, 2], [3, 2]),                            # no reg images: unchanged
])
def test_reg_repeats_are_balanced_as_sd_scripts_does(is_reg, repeats, want):
    assert balance_reg_repeats(is_reg, repeats) == want


def test_reg_images_double_the_epoch_and_are_recorded(tiny_ckpt, tmp_path):
    from safetensors import safe_open

    from trainer import events as ev
    from trainer.config.plan import dataset_bucket_counts

    data = make_dataset(tmp_path / "train", {"2_redcircle": 3})   # 6 training samples
    reg = make_dataset(tmp_path / "reg", {"1_circle": 2})          # 2 reg images -> 3 repeats each
    cfg = quick_config(tiny_ckpt("sd1"), data, tmp_path / "out", reg_data_dir=str(reg), prior_loss_weight=0.5,
                       train_batch_size=4, max_train_epochs=1, cache_latents=True)
    assert dataset_bucket_counts(cfg) == {(64, 64): 12}  # the preview counts what the trainer trains
    path, events = run_training(cfg)
    (started,) = [e for e in events if isinstance(e, ev.Started)]
    assert started.samples_per_epoch == 12 and started.total_steps == 3
    with safe_open(path, "pt") as f:
        md = f.metadata()
    assert md["ss_num_train_images"] == "6" and md["ss_num_reg_images"] == "2"
    assert json.loads(md["ss_reg_dataset_dirs"]) == {"1_circle": {"n_repeats": 1, "img_count": 2}}
    assert json.loads(md["ss_dataset_dirs"]) == {"2_redcircle": {"n_repeats": 2, "img_count": 3}}
    assert md["ss_prior_loss_weight"] == "0.5"


def test_a_missing_reg_folder_is_one_sentence(tiny_ckpt, tmp_path):
    from trainer.errors import UserError

    data = make_dataset(tmp_path / "train", {"1_a": 1})
    cfg = quick_config(tiny_ckpt("sd1"), data, tmp_path / "out", reg_data_dir=str(tmp_path / "nope"))
    with pytest.raises(UserError, match=r"reg_data_dir.*does not exist\.$"):
        run_training(cfg)


@torch.no_grad()
def test_a_reg_images_loss_is_scaled_by_prior_loss_weight(tiny_ckpt, tmp_path):
    from trainer.models.loader import load_base_model
    from trainer.run.runtime import make_runtime
    from trainer.run.setup import prepare_models

    data_dir = make_dataset(tmp_path / "train", {"1_redcircle": 1})
    reg = make_dataset(tmp_path / "reg", {"1_circle": 1})
    cfg = quick_config(tiny_ckpt("sd1"), data_dir, tmp_path / "out", reg_data_dir=str(reg), prior_loss_weight=0.25,
                       train_batch_size=1)
    data = train_data(cfg)
    items = data.items
    base = load_base_model(cfg.pretrained_model_name_or_path)
    model = prepare_models(base, cfg, make_runtime(cfg), False, lambda e: None)
    reg_index = next(i for i, it in enumerate(items) if it.entry.concept.is_reg)
    batch = next(data[k] for k in range(2) if data[k]["indices"] == [reg_index])
    assert batch["loss_weights"] == [0.25]

    def loss(weights):
        torch.manual_seed(7)  # the same noise and timestep for both
        return model.loss(dict(batch, loss_weights=weights)).item()

    assert loss([0.25]) == pytest.approx(0.25 * loss([1.0]), rel=1e-5)
    assert all(data.loss_weight(i) == 1.0 for i, it in enumerate(items) if not it.entry.concept.is_reg)


def test_a_dataset_configs_reg_images_are_counted_balanced_per_dataset(tmp_path):
    """sd-scripts balances each [[datasets]]' reg images against that dataset's training images: the scan's
    count, its description, its note and the trainer's plan agree (the scan counted every reg image)."""
    from trainer.config.plan import dataset_bucket_counts
    from trainer.dataset.sources import scan_sources

    make_dataset(tmp_path / "a", {"2_red": 3})
    make_dataset(tmp_path / "b", {"1_blue": 2, "1_reg": 3})
    toml = tmp_path / "d.toml"
    toml.write_text('[[datasets]]\nbatch_size = 2\n[[datasets.subsets]]\nimage_dir = "a/2_red"\n'
                    'num_repeats = 2\n'
                    '[[datasets]]\nresolution = 96\n[[datasets.subsets]]\nimage_dir = "b/1_blue"\n'
                    '[[datasets.subsets]]\nimage_dir = "b/1_reg"\nis_reg = true\n', encoding="utf-8")
    cfg = quick_config("m", "", tmp_path / "o", train_data_dir="", dataset_config=str(toml),
                       train_batch_size=1)
    scan = scan_sources(cfg)
    # 6 training samples in the first dataset do not count for the second one's 2 (3 reg images -> 2 used)
    assert scan.samples_per_epoch == 10 == sum(sum(c.values()) for _, c in dataset_bucket_counts(cfg))
    assert "1_reg: 3 images x 1 = 3 (2 used, balanced to the training images)" in scan.describe()
    assert scan.describe().endswith("total 10 samples per epoch")
    notes = [p.message for p in scan.problems if p.kind == "reg_balance"]
    assert notes == ["Only 2 of the 3 regularization samples in [[datasets]] #2 are used each epoch: they "
                     "are balanced to the 2 training samples."]
