"""Several [[datasets]] in one dataset config, as sd-scripts' DatasetGroup trains them: each dataset buckets
its images at its own resolution and batches them at its own batch size, an epoch is all of their batches,
the preview's plan is the trainer's, and ss_datasets records each dataset."""
import json
from pathlib import Path

import pytest
from conftest import make_dataset, quick_config, run_training, train_data

from trainer.dataset.config_file import dataset_configs, effective_config

TOML = """
[general]
shuffle_caption = false

[[datasets]]
resolution = 64
batch_size = 2
  [[datasets.subsets]]
  image_dir = "{a}"
  num_repeats = 2

[[datasets]]
resolution = 96
  [[datasets.subsets]]
  image_dir = "{b}"
  [[datasets.subsets]]
  image_dir = "{a}"
"""


@pytest.fixture
def two_datasets(tmp_path):
    make_dataset(tmp_path / "d", {"2_redcircle": 3}, size=(64, 64))
    make_dataset(tmp_path / "e", {"1_bluesquare": 2}, size=(96, 96))
    path = tmp_path / "dataset.toml"
    path.write_text(TOML.format(a=(tmp_path / "d" / "2_redcircle").as_posix(),
                                b=(tmp_path / "e" / "1_bluesquare").as_posix()), encoding="utf-8")
    return quick_config("m", tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(path),
                        train_batch_size=1, resolution="128", max_train_epochs=1)


def test_each_dataset_keeps_its_own_resolution_and_batch_size(two_datasets):
    first, second = dataset_configs(two_datasets)
    assert (first.resolution, first.train_batch_size) == ("64,64", 2)
    assert (second.resolution, second.train_batch_size) == ("96,96", 1)  # no batch_size: the run's
    eff = effective_config(two_datasets)
    assert (eff.resolution, eff.train_batch_size) == ("128", 1)  # they differ: the run's values stay
    assert dataset_configs(eff) == dataset_configs(two_datasets)  # applying it again changes nothing


def test_every_batch_holds_one_dataset_at_its_resolution_and_steps_add_up(two_datasets):
    from trainer.config.plan import dataset_bucket_counts, resolve

    data = train_data(two_datasets)
    # dataset 1: 3 images x 2 at 64 px in batches of 2 -> 3; dataset 2: 2 + 3 images at 96 px, batch 1 -> 5
    assert data.batches_per_epoch == 8
    seen = []
    for b in range(data.local_batches_per_epoch):
        batch = data[b]
        datasets = {data.items[i].entry.concept.dataset for i in batch["indices"]}
        assert len(datasets) == 1
        size = {0: 64, 1: 96}[datasets.pop()]
        assert batch["pixels"].shape[-2:] == (size, size) and batch["target_size"] == (size, size)
        seen.append((size, len(batch["indices"])))
    assert sorted(seen) == [(64, 2)] * 3 + [(96, 1)] * 5
    assert seen != sorted(seen)  # the datasets' batches are shuffled together
    counts = dataset_bucket_counts(two_datasets)
    assert counts == [(2, {(64, 64): 6}), (1, {(96, 96): 5})] == data.plan_counts()
    plan = resolve(two_datasets, counts).steps
    assert (plan.batches_per_epoch, plan.steps_per_epoch, plan.samples_per_epoch) == (8, 8, 11)
    assert "2 datasets, batch size 2, 1" in plan.describe()
    accum = resolve(two_datasets.replace(gradient_accumulation_steps=3), counts).steps
    assert accum.steps_per_epoch == 3  # ceil((3 + 5) / 3)


def test_a_run_trains_two_datasets_and_records_each(two_datasets, tiny_ckpt):
    from safetensors import safe_open

    from trainer import events as ev

    cfg = two_datasets.replace(pretrained_model_name_or_path=str(tiny_ckpt("sd1")), cache_latents_to_disk=True)
    path, events = run_training(cfg)
    red = Path(cfg.dataset_config).parent / "d" / "2_redcircle"
    # the folder both datasets train keeps one latent cache per size; the other one the usual name
    assert {p.name for p in red.glob("img0*.npz")} == {"img0_0064x0064.npz", "img0_0096x0096.npz"}
    assert (Path(cfg.dataset_config).parent / "e" / "1_bluesquare" / "img0.npz").is_file()
    started = next(e for e in events if isinstance(e, ev.Started))
    assert (started.total_steps, started.steps_per_epoch) == (8, 8)  # what the preview planned
    with safe_open(path, "pt") as f:
        md = f.metadata()
    first, second = json.loads(md["ss_datasets"])
    assert (first["resolution"], first["batch_size_per_device"], first["num_train_images"]) == ([64, 64], 2, 6)
    assert (second["resolution"], second["batch_size_per_device"], second["num_train_images"]) == ([96, 96], 1, 5)
    assert second["bucket_info"]["buckets"]["0"] == {"resolution": [96, 96], "count": 5}
    assert md["ss_num_train_images"] == "11" and md["ss_num_batches_per_epoch"] == "8"
    # the same folder in both datasets: named twice, as sd-scripts merges them
    assert json.loads(md["ss_dataset_dirs"]) == {"2_redcircle": {"n_repeats": 2, "img_count": 3},
                                                 "1_bluesquare": {"n_repeats": 1, "img_count": 2},
                                                 "2_redcircle (2)": {"n_repeats": 1, "img_count": 3}}
    assert "ss_resolution" not in md and "ss_bucket_info" not in md  # per dataset only, as sd-scripts writes
    from trainer.tools.check import summarize_metadata

    assert summarize_metadata(md)["resolution"] == "(64, 64), (96, 96)"  # the check tool reads them there


def test_the_memory_estimate_takes_the_largest_dataset(two_datasets, tiny_ckpt):
    from trainer.vram.estimate import estimate

    cfg = two_datasets.replace(pretrained_model_name_or_path=str(tiny_ckpt("sd1")))
    est = estimate(cfg)
    each = [estimate(c.replace(dataset_config="")) for c in dataset_configs(cfg)]
    assert est.peak_bytes == max(e.peak_bytes for e in each)
    assert (est.resolution, est.batch_size) in {((64, 64), 2), ((96, 96), 1)}
    assert any("largest of the dataset config's 2 datasets" in n for n in est.notes)
