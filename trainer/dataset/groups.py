"""Several ``[[datasets]]`` in one run, as sd-scripts' DatasetGroup trains them.

Each dataset of a dataset config buckets its own images at its own ``resolution`` and bucket keys, balances
its own regularization images against its own training images, and cuts its own batches of its own
``batch_size``; an epoch is every dataset's batches shuffled together, so steps per epoch count the sum of
each dataset's batches. A run without a dataset config (or with one [[datasets]]) is one group, and trains
exactly as before. The trainer and the previews (trainer.config.plan) both build their groups here, so they
count the same batches. Pure Python, no torch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .buckets import Bucketer
from .plan import BucketReport, assign_buckets
from .scan import DatasetScan


@dataclass
class DatasetGroup:
    """One [[datasets]]: ``cfg`` is the run's settings with its keys applied, ``scan`` its folders only."""

    index: int
    cfg: object
    scan: DatasetScan
    report: BucketReport | None = None

    @property
    def batch_size(self) -> int:
        return int(self.cfg.train_batch_size)


def bucketer_of(cfg) -> Bucketer:
    """The bucketer of a cfg's resolution and bucket keys (the trainer's and every preview's)."""
    from trainer.config.validate import parse_resolution

    return Bucketer(parse_resolution(cfg.resolution), cfg.enable_bucket, cfg.min_bucket_reso, cfg.max_bucket_reso,
                    cfg.bucket_reso_steps, cfg.bucket_no_upscale)


def split_groups(scan: DatasetScan, cfgs: list) -> list[DatasetGroup]:
    """The scan's concepts by the [[datasets]] they belong to (``Concept.dataset``); ``cfgs`` per dataset
    (trainer.dataset.config_file.dataset_configs). A dataset without concepts is left out."""
    if len(cfgs) == 1:
        return [DatasetGroup(0, cfgs[0], scan)]
    groups = []
    for n, cfg in enumerate(cfgs):
        concepts = [c for c in scan.concepts if c.dataset == n]
        if concepts:
            groups.append(DatasetGroup(n, cfg, replace(scan, concepts=concepts, problems=[])))
    return groups


def bucket_groups(groups: list[DatasetGroup], sizes: dict | None = None) -> BucketReport:
    """Bucket each group at its own settings (sets ``group.report``) -> one report of them all, for the
    warnings and the run's bucket record (an image used by two datasets is in it once, by its first).
    ``sizes``: image sizes already read (the Buckets tab's), so no header is read twice."""
    merged = BucketReport()
    counts: dict = {}
    for g in groups:
        g.report = assign_buckets(g.scan, bucketer_of(g.cfg), sizes=sizes)
        for path, a in g.report.assignments.items():
            merged.assignments.setdefault(path, a)
        for bucket, n in g.report.counts.items():
            counts[bucket] = counts.get(bucket, 0) + n
        merged.problems.extend(g.report.problems)
    merged.counts = dict(sorted(counts.items()))
    return merged


def group_items(groups: list[DatasetGroup]) -> list[tuple]:
    """(image entry, bucket assignment, repeats) of every group in turn, regularization images balanced
    within their own dataset (sd-scripts balances per DreamBoothDataset)."""
    from .reg import balanced_items

    return [row for g in groups for row in balanced_items(g.scan, g.report)]


def plan_counts(groups: list[DatasetGroup]):
    """What trainer.dataset.plan.plan_steps takes: {bucket: items} for one group, else a
    [(batch size, {bucket: items})] list, one per dataset."""
    from .reg import balanced_counts

    if len(groups) == 1:
        return balanced_counts(groups[0].scan, groups[0].report)
    return [(g.batch_size, balanced_counts(g.scan, g.report)) for g in groups]
