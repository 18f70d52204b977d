"""trainer.dataset.plan: sd-scripts' samples / batches / steps / epochs math and the bucket preview."""

import math
import threading

import pytest
from PIL import Image

from trainer.dataset.buckets import Bucketer
from trainer.dataset.plan import assign_buckets, bucket_counts, plan_steps
from trainer.dataset.scan import ProblemKind, scan_dataset
from trainer.errors import ConfigError, DatasetError


def test_76x1_plus_16x6_is_172():
    counts = {(512, 512): 76 * 1 + 16 * 6}
    p = plan_steps(counts, train_batch_size=1, max_train_epochs=1)
    assert p.samples_per_epoch == 172
    assert p.batches_per_epoch == 172 and p.steps_per_epoch == 172 and p.total_steps == 172 and p.epochs == 1


def test_buckets_make_more_batches_than_plain_ceil():
    counts = {(512, 512): 5, (640, 384): 5, (384, 640): 3}
    p = plan_steps(counts, train_batch_size=4, max_train_epochs=10)
    assert p.samples_per_epoch == 13
    assert p.batches_without_buckets == math.ceil(13 / 4) == 4
    assert p.batches_per_epoch == 2 + 2 + 1 == 5
    assert p.steps_per_epoch == 5 and p.total_steps == 50 and p.epochs == 10


def test_gradient_accumulation_and_processes():
    counts = {(512, 512): 172}
    p = plan_steps(counts, train_batch_size=2, gradient_accumulation_steps=2, max_train_epochs=10)
    assert (p.batches_per_epoch, p.steps_per_epoch, p.total_steps) == (86, 43, 430)
    p = plan_steps(counts, train_batch_size=2, num_processes=2, max_train_epochs=10)
    assert p.steps_per_epoch == 43
    p = plan_steps(counts, train_batch_size=3, gradient_accumulation_steps=4, num_processes=2,
                   max_train_epochs=1)
    # ceil(58 / 2 / 4) = ceil(7.25) = 8
    assert (p.batches_per_epoch, p.steps_per_epoch) == (58, 8)


def test_max_train_steps_gives_epochs_by_ceil():
    p = plan_steps({(512, 512): 172}, train_batch_size=2, max_train_steps=1600)
    assert p.steps_per_epoch == 86 and p.total_steps == 1600 and p.epochs == math.ceil(1600 / 86) == 19


def test_max_train_epochs_overrides_steps():
    p = plan_steps({(512, 512): 172}, train_batch_size=2, max_train_epochs=3, max_train_steps=5)
    assert p.total_steps == 3 * 86 and p.epochs == 3


def test_describe():
    p = plan_steps({(512, 512): 5, (640, 384): 5, (384, 640): 3}, 4, gradient_accumulation_steps=2,
                   max_train_epochs=10)
    text = p.describe()
    assert text == ("13 samples per epoch in 3 bucket(s) -> 5 batches of 4 -> 3 steps per epoch "
                    "(gradient accumulation 2); 10 epoch(s) = 30 steps")


def test_bad_settings():
    with pytest.raises(ConfigError, match="train_batch_size"):
        plan_steps({(512, 512): 1}, 0)
    with pytest.raises(ConfigError, match="max_train_epochs"):
        plan_steps({(512, 512): 1}, 1, max_train_epochs=0)
    with pytest.raises(DatasetError, match="no images"):
        plan_steps({}, 1)


def test_bucket_counts_helper():
    b = Bucketer(512)
    counts = bucket_counts([(1000, 500, 2), (2000, 1000, 3), (512, 512, 1), (500, 1000, 6)], b)
    assert counts == {(320, 704): 6, (512, 512): 1, (704, 320): 5}


def test_assign_buckets_from_scan(tmp_path):
    for i, size in enumerate([(1000, 500), (512, 512), (500, 1000)]):
        d = tmp_path / "2_a"
        d.mkdir(exist_ok=True)
        Image.new("RGB", size).save(d / f"{i}.png")
    d = tmp_path / "5_b"
    d.mkdir()
    Image.new("RGB", (256, 256)).save(d / "small.png")
    (d / "broken.png").write_bytes(b"")
    scan = scan_dataset(tmp_path)
    progress = []
    report = assign_buckets(scan, Bucketer(512), on_progress=lambda d, t: progress.append((d, t)))
    assert progress[-1] == (5, 5)
    assert report.counts == {(320, 704): 2, (512, 512): 2 + 5, (704, 320): 2}
    assert [p.kind for p in report.problems] == [ProblemKind.UNREADABLE_IMAGE]
    assert [p.name for p in report.upscaled()] == ["small.png"]
    plan = plan_steps(report.counts, 2, max_train_epochs=1)
    assert plan.samples_per_epoch == 11 and plan.batches_per_epoch == 1 + 4 + 1
    cancel = threading.Event()
    cancel.set()
    assert assign_buckets(scan, Bucketer(512), cancel=cancel).cancelled


def test_assign_buckets_with_known_sizes(tmp_path):
    d = tmp_path / "1_a"
    d.mkdir()
    (d / "a.png").touch()  # never opened when the size is known
    scan = scan_dataset(tmp_path)
    report = assign_buckets(scan, Bucketer(512), sizes={d / "a.png": (1000, 500)})
    assert report.counts == {(704, 320): 1} and report.problems == []
    assert report.mean_ar_error == pytest.approx(0.2)
