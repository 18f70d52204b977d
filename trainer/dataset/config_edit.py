"""Writing the Dataset page's edits back into a dataset config it opened, keeping everything else.

The page shows, per subset, its repeats, is_reg and the caption/flip options of :data:`PAGE_KEYS`; only those
are changed, and only in the subset's own table. Every other key (class_tokens, masks, dataset keys such as
resolution and batch_size, [general], keys this trainer does not apply) stays as the file had it. A value
the subset inherits from [general] or its [[datasets]] is not copied into the subset.
"""
from __future__ import annotations

import copy
from pathlib import Path

from trainer.errors import ConfigError

from .config_file import read_dataset_config, resolve_dir, save_dataset_config, subset_tables

PAGE_KEYS = ("keep_tokens", "shuffle_caption", "caption_extension", "flip_aug", "caption_dropout_rate")


def apply_concepts(data: dict, concepts, path) -> dict:
    """``data`` (a dataset config as read) with each subset's shown keys set from its concept (one concept
    per subset, in file order, as trainer.dataset.config_file.scan_dataset_config makes them)."""
    out = copy.deepcopy(data)
    subsets = subset_tables(out)
    if len(subsets) != len(concepts):
        raise ConfigError(f"Dataset config {path} now has {len(subsets)} subsets, not the {len(concepts)} shown: "
                          "it was changed elsewhere; open it again before saving.")
    for (_, inherited, sub), c in zip(subsets, concepts):
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
    source, target = Path(path).resolve(), Path(target or path)
    for _, _, sub in subset_tables(data):
        for key in ("image_dir", "conditioning_data_dir"):
            if sub.get(key):
                here = resolve_dir(sub[key], source)
                if here != resolve_dir(sub[key], target.resolve()):  # relative, and the file moves away
                    sub[key] = here.as_posix()
    save_dataset_config(data, target)
