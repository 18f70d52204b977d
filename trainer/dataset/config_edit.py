"""Writing the Dataset page's edits back into a dataset config it opened, keeping everything else.

The page shows, per subset, its repeats, is_reg and the caption/flip options of :data:`PAGE_KEYS`; only those
are changed, and only in the subset's own table. Every other key (class_tokens, masks, dataset keys such as
resolution and batch_size, [general], keys this trainer does not apply) stays as the file had it. A value
the subset inherits from [general] or its [[datasets]] is not copied into the subset.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

from trainer.errors import ConfigError

from .config_file import DATASET_KEYS, SUBSET_KEYS, read_dataset_config, save_dataset_config

PAGE_KEYS = ("keep_tokens", "shuffle_caption", "caption_extension", "flip_aug", "caption_dropout_rate")


def apply_concepts(data: dict, concepts, path) -> dict:
    """``data`` (a dataset config as read) with each subset's shown keys set from its concept (one concept
    per subset, in file order, as trainer.dataset.config_file.scan_dataset_config makes them)."""
    out = copy.deepcopy(data)
    subsets = [(ds, sub) for ds in out["datasets"] for sub in ds["subsets"]]
    if len(subsets) != len(concepts):
        raise ConfigError(f"Dataset config {path} now has {len(subsets)} subsets, not the {len(concepts)} shown: "
                          "it was changed elsewhere; open it again before saving.")
    general = {k: v for k, v in out.get("general", {}).items() if k in SUBSET_KEYS or k in DATASET_KEYS}
    for (ds, sub), c in zip(subsets, concepts):
        inherited = {**general, **{k: v for k, v in ds.items() if k in SUBSET_KEYS}}
        _set(sub, "num_repeats", int(c.repeats), inherited.get("num_repeats", 1))
        _set(sub, "is_reg", bool(c.is_reg), False)
        options = c.options or {}
        for key in PAGE_KEYS:
            value = options.get(key)
            if value is None:
                sub.pop(key, None)  # "as the run" (or what the subset inherits)
            else:
                _set(sub, key, value, inherited.get(key))
    return out


def _set(sub: dict, key: str, value, inherited) -> None:
    """Into the subset when it had the key or the value differs from what it would inherit."""
    if key in sub or value != inherited:
        sub[key] = value


def save_concepts_into(path, concepts, target=None) -> None:
    """Read ``path`` again, apply the concepts, write it (or ``target``) atomically. Written to another
    folder, folders given relative to the file become absolute, so they still name the same folders."""
    data = apply_concepts(read_dataset_config(path), concepts, path)
    target = Path(target or path)
    if target.resolve().parent != Path(path).resolve().parent:
        for ds in data["datasets"]:
            for sub in ds["subsets"]:
                for key in ("image_dir", "conditioning_data_dir"):
                    if sub.get(key) and not Path(os.path.expanduser(sub[key])).is_absolute():
                        sub[key] = (Path(path).resolve().parent / sub[key]).as_posix()
    save_dataset_config(data, target)
