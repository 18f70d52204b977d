"""How many steps a training run takes, computed the way sd-scripts (train_network.py) computes it.

* Every image is put ``repeats`` times into its bucket; a batch never mixes buckets, so
  ``batches_per_epoch = sum over buckets of ceil(items_in_bucket / train_batch_size)`` (which can be more
  than ``ceil(samples / train_batch_size)``).
* Several ``[[datasets]]`` (trainer.dataset.groups): each cuts its own buckets into batches of its own
  ``batch_size``; ``batches_per_epoch`` is the sum over datasets.
* ``steps_per_epoch = ceil(batches_per_epoch / num_processes / gradient_accumulation_steps)``.
* ``total_steps = max_train_epochs * steps_per_epoch`` when ``max_train_epochs`` is set (it overrides
  ``max_train_steps``, as in sd-scripts), else ``max_train_steps``.
* ``epochs = ceil(total_steps / steps_per_epoch)`` (the last epoch may stop part-way).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from trainer.errors import ConfigError, DatasetError

from .buckets import BucketAssignment, Bucketer, Size
from .images import ImageReadError, image_size, is_huge
from .scan import DatasetScan, Problem, ProblemKind


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class StepPlan:
    """Result of :func:`plan_steps`; ``datasets`` holds the bucket counts, ``buckets`` merges them."""

    samples_per_epoch: int
    batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    epochs: int
    train_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    num_processes: int = 1
    # (batch size, {bucket: items}) per [[datasets]] (one pair without several), empty buckets left out:
    # what each dataset cuts its batches from (trainer.run.compile counts the step shapes from it)
    datasets: tuple[tuple[int, dict[Size, int]], ...] = ()

    @property
    def buckets(self) -> dict[Size, int]:
        """(width, height) -> items (images x repeats) of every dataset together, in bucket order."""
        merged: dict[Size, int] = {}
        for _, counts in self.datasets:
            for b, n in counts.items():
                merged[b] = merged.get(b, 0) + n
        return dict(sorted(merged.items()))

    @property
    def batches_without_buckets(self) -> int:
        """``ceil(samples / batch size)``: the count if all images shared one bucket."""
        return _ceil_div(self.samples_per_epoch, self.train_batch_size)

    def describe(self) -> str:
        """One line for the user, e.g. ``172 samples per epoch in 3 buckets -> 44 batches of 4
        -> 44 steps per epoch; 10 epochs = 440 steps``."""
        parts = [f"{self.samples_per_epoch} samples per epoch in {len(self.buckets)} bucket(s)"]
        if len(self.datasets) > 1:
            sizes = ", ".join(str(size) for size, _ in self.datasets)
            parts.append(f"{self.batches_per_epoch} batches ({len(self.datasets)} datasets, batch "
                         f"size {sizes})")
        else:
            parts.append(f"{self.batches_per_epoch} batches of {self.train_batch_size}")
        divisors = []
        if self.num_processes > 1:
            divisors.append(f"{self.num_processes} GPUs")
        if self.gradient_accumulation_steps > 1:
            divisors.append(f"gradient accumulation {self.gradient_accumulation_steps}")
        via = f" ({', '.join(divisors)})" if divisors else ""
        parts.append(f"{self.steps_per_epoch} steps per epoch{via}")
        return " -> ".join(parts) + f"; {self.epochs} epoch(s) = {self.total_steps} steps"


def plan_steps(
    bucket_counts: dict[Size, int] | list[tuple[int, dict[Size, int]]],
    train_batch_size: int,
    gradient_accumulation_steps: int = 1,
    num_processes: int = 1,
    max_train_epochs: int | None = None,
    max_train_steps: int = 1600,
) -> StepPlan:
    """Steps math of sd-scripts (module doc). ``bucket_counts``: items per bucket, or for several datasets a
    list of (their batch size, their items per bucket); train_batch_size is then the first one's.
    Raises :class:`ConfigError` for non-positive settings and :class:`DatasetError` when there is nothing to
    train on."""
    parts = bucket_counts if isinstance(bucket_counts, list) else [(train_batch_size, bucket_counts)]
    if isinstance(bucket_counts, list) and bucket_counts:
        train_batch_size = bucket_counts[0][0]
    for name, value in (
        ("train_batch_size", train_batch_size),
        ("gradient_accumulation_steps", gradient_accumulation_steps),
        ("num_processes", num_processes),
    ):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, not {value}.")
    if max_train_epochs is not None and max_train_epochs < 1:
        raise ConfigError(f"max_train_epochs must be at least 1, not {max_train_epochs}.")
    if max_train_epochs is None and max_train_steps < 1:
        raise ConfigError(f"max_train_steps must be at least 1, not {max_train_steps}.")
    for size, _ in parts:
        if size < 1:
            raise ConfigError(f"train_batch_size must be at least 1, not {size}.")
    parts = tuple((size, {b: n for b, n in sorted(counts.items()) if n > 0}) for size, counts in parts)
    samples = sum(n for _, counts in parts for n in counts.values())
    if samples == 0:
        raise DatasetError("The dataset has no images to train on, so no steps can be planned.")
    batches = sum(_ceil_div(n, size) for size, counts in parts for n in counts.values())
    # integer form of ceil(batches / num_processes / gradient_accumulation_steps)
    steps_per_epoch = _ceil_div(batches, num_processes * gradient_accumulation_steps)
    total = max_train_epochs * steps_per_epoch if max_train_epochs is not None else max_train_steps
    epochs = _ceil_div(total, steps_per_epoch)
    return StepPlan(
        samples_per_epoch=samples,
        batches_per_epoch=batches,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        epochs=epochs,
        train_batch_size=train_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        num_processes=num_processes,
        datasets=parts,
    )


def bucket_counts(items: Iterable[tuple[int, int, int]], bucketer: Bucketer) -> dict[Size, int]:
    """Items per bucket from ``(width, height, repeats)`` triples: each image counts ``repeats`` times."""
    counts: dict[Size, int] = {}
    for w, h, repeats in items:
        b = bucketer.assign(w, h).bucket
        counts[b] = counts.get(b, 0) + repeats
    return dict(sorted(counts.items()))


@dataclass
class BucketReport:
    """Every readable image's :class:`BucketAssignment` (by path), items per bucket (x repeats), and the
    images that could not be sized or bucketed (left out of ``counts``)."""

    assignments: dict[Path, BucketAssignment] = field(default_factory=dict)
    counts: dict[Size, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    cancelled: bool = False

    @property
    def mean_ar_error(self) -> float:
        """Mean |aspect-ratio error| over images (without repeats), as sd-scripts logs it."""
        if not self.assignments:
            return 0.0
        return sum(abs(a.ar_error) for a in self.assignments.values()) / len(self.assignments)

    def upscaled(self) -> list[Path]:
        return [p for p, a in self.assignments.items() if a.upscaled]


def assign_buckets(
    scan: DatasetScan,
    bucketer: Bucketer,
    *,
    sizes: dict[Path, Size] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> BucketReport:
    """Put every image of a scan into its bucket (the bucket preview). Sizes are read from file headers
    (:func:`image_size`) unless given in ``sizes``; files whose size cannot be read are reported as
    ``unreadable_image``, images with a zero-sized bucket as ``small_image``."""
    report = BucketReport()
    entries = scan.images
    total = len(entries)
    counts: dict[Size, int] = {}
    for i, entry in enumerate(entries):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        size = sizes.get(entry.path) if sizes else None
        if size is None:
            try:
                size = image_size(entry.path)
            except ImageReadError as e:
                report.problems.append(Problem(entry.path, ProblemKind.UNREADABLE_IMAGE, str(e)))
                size = None
        if size is not None and is_huge(*size):
            report.problems.append(Problem(
                entry.path, ProblemKind.LARGE_IMAGE,
                f"Image '{entry.path.name}' is {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.0f} megapixels); "
                "it is trained, but decoding it at every step is slow and takes much memory: shrink it to "
                "a few megapixels."))
        if size is not None:
            a = bucketer.assign(*size)
            if a.usable:
                report.assignments[entry.path] = a
                counts[a.bucket] = counts.get(a.bucket, 0) + entry.repeats
            else:
                report.problems.append(
                    Problem(
                        entry.path,
                        ProblemKind.SMALL_IMAGE,
                        f"Image '{entry.path.name}' ({size[0]}x{size[1]}) is too small or too narrow for "
                        f"bucket_no_upscale: its bucket would be {a.bucket[0]}x{a.bucket[1]} pixels.",
                    )
                )
        if on_progress is not None:
            on_progress(i + 1, total)
    report.counts = dict(sorted(counts.items()))
    return report
