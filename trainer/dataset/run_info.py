"""The dataset part of a run's ss_* metadata, as sd-scripts fills it for train_data_dir + reg_data_dir:
training folders in ss_dataset_dirs, regularization folders in ss_reg_dataset_dirs, ss_num_train_images
without and ss_num_reg_images with only the regularization samples (before balancing)."""
from __future__ import annotations

from .reg import reg_summary
from .subsets import option
from .tags import tag_frequency

# run-wide keys sd-scripts (train_network.py) writes only for a train_data_dir + reg_data_dir run; with
# --dataset_config it leaves them out and records each dataset's and subset's values in ss_datasets instead
FOLDER_RUN_KEYS = ("ss_batch_size_per_device", "ss_total_batch_size", "ss_resolution", "ss_color_aug",
                   "ss_flip_aug", "ss_random_crop", "ss_shuffle_caption", "ss_enable_bucket",
                   "ss_bucket_no_upscale", "ss_min_bucket_reso", "ss_max_bucket_reso", "ss_keep_tokens",
                   "ss_reg_dataset_dirs", "ss_bucket_info")


def train_samples(data) -> int:
    """Training (not regularization) samples per epoch of a TrainData: sd-scripts' num_train_images."""
    return sum(r for item, r in zip(data.items, data.repeats) if not item.entry.concept.is_reg)


def dataset_metadata(scan, data, groups=None) -> dict:
    """RunInfo fields: num_train_images, dataset_dirs, reg_dataset_dirs, num_reg_images, tag_frequency, and
    for a dataset_config run ss_datasets, one entry per [[datasets]] (``groups``: trainer.dataset.groups;
    the whole scan as one dataset when not given)."""
    def dirs(reg: bool) -> dict:
        return {c.folder_name: {"n_repeats": c.repeats, "img_count": len(c.images)}
                for c in scan.concepts if c.is_reg == reg}

    out = {"num_train_images": train_samples(data), "dataset_dirs": dirs(False), "reg_dataset_dirs": dirs(True),
           "num_reg_images": reg_summary(scan.concepts)[1], "tag_frequency": tag_frequency(scan)}
    if getattr(data.cfg, "dataset_config", ""):
        if not groups:
            out["datasets"] = [datasets_entry(scan, data.cfg, data, None, 0)]
        else:
            out["datasets"] = [datasets_entry(g.scan, g.cfg, data, g.report, g.index) for g in groups]
            out["dataset_dirs"] = merged_dirs(groups)
    return out


def merged_dirs(groups) -> dict:
    """ss_dataset_dirs of several datasets as sd-scripts merges them: training folders only, a folder used
    again named "name (2)", "name (3)", ..."""
    out: dict = {}
    for g in groups:
        for c in g.scan.concepts:
            if c.is_reg:
                continue
            name, n = c.folder_name, 2
            while name in out:
                name, n = f"{c.folder_name} ({n})", n + 1
            out[name] = {"n_repeats": c.repeats, "img_count": len(c.images)}
    return out


def datasets_entry(scan, cfg, data, report, index: int) -> dict:
    """One entry of ss_datasets, the record sd-scripts writes for a --dataset_config run (train_network.py):
    its batch size, resolution and bucket keys, its samples (training ones after balancing, reg ones before),
    its buckets and its subsets."""
    from trainer.config.validate import parse_resolution

    subsets = []
    for c in scan.concepts:
        def opt(name, c=c):
            return option(c, cfg, name)

        subsets.append({"img_count": len(c.images), "num_repeats": c.repeats, "color_aug": bool(opt("color_aug")),
                        "flip_aug": bool(opt("flip_aug")), "random_crop": bool(opt("random_crop")),
                        "shuffle_caption": bool(opt("shuffle_caption")), "keep_tokens": opt("keep_tokens"),
                        "keep_tokens_separator": opt("keep_tokens_separator"),
                        "secondary_separator": opt("secondary_separator"),
                        "enable_wildcard": bool(opt("enable_wildcard")), "caption_prefix": opt("caption_prefix"),
                        "caption_suffix": opt("caption_suffix"), "resize_interpolation": opt("resize_interpolation"),
                        "image_dir": c.folder_name, "class_tokens": (c.options or {}).get("class_tokens"),
                        "is_reg": c.is_reg})
    mine = [(item, r) for item, r in zip(data.items, data.repeats) if item.entry.concept.dataset == index]
    entry = {"is_dreambooth": True, "batch_size_per_device": cfg.train_batch_size,
             "num_train_images": sum(r for item, r in mine if not item.entry.concept.is_reg),
             "num_reg_images": reg_summary(scan.concepts)[1],
             "resolution": list(parse_resolution(cfg.resolution)), "enable_bucket": bool(cfg.enable_bucket),
             "min_bucket_reso": cfg.min_bucket_reso, "max_bucket_reso": cfg.max_bucket_reso,
             "tag_frequency": tag_frequency(scan), "subsets": subsets}
    if report is not None:
        entry["bucket_info"] = bucket_info(data.bucket_counts(index), report.mean_ar_error)
    return entry


def bucket_info(counts: dict, mean_ar_error: float) -> dict:
    """sd-scripts' bucket record (ss_bucket_info, and each ss_datasets entry's): the buckets in (w, h) order,
    numbered from 0, each with its samples per epoch; the mean aspect-ratio error of the images."""
    buckets = {i: {"resolution": list(b), "count": n} for i, (b, n) in enumerate(sorted(counts.items()))}
    return {"buckets": buckets, "mean_img_ar_error": mean_ar_error}
