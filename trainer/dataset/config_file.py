"""sd-scripts' dataset config (``--dataset_config``, library/config_util.py), read and written.

::

    [general]                      # defaults for every dataset and subset
    shuffle_caption = true
    [[datasets]]
    resolution = 512               # dataset keys: resolution, batch_size, bucket settings
    batch_size = 2
      [[datasets.subsets]]         # one folder each
      image_dir = 'D:/data/maid'
      num_repeats = 6
      keep_tokens = 1
      class_tokens = 'maid'
      [[datasets.subsets]]
      image_dir = 'D:/data/reg'
      is_reg = true

A subset key given in [general] or [[datasets]] is the default of the subsets below it (sd-scripts'
"ascendable" keys); a key given nowhere falls back to the run's settings. Dataset keys override the run's
resolution, train_batch_size and bucket settings for that dataset's images: several [[datasets]] are bucketed
and batched each at its own settings (sd-scripts' DatasetGroup; trainer.dataset.groups). Each ``image_dir``
is one concept: its images directly inside (no ``<repeats>_`` naming needed);
an image without a caption file is captioned with ``class_tokens`` (else the folder name).
Unknown keys are a ConfigError naming the key with the nearest known one; sd-scripts keys this trainer does
not apply (NOT_APPLIED) are reported as warnings (never dropped silently).
"""
from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path

import toml

from trainer.errors import ConfigError, DatasetError

from .reg import reg_notes
from .scan import Concept, DatasetScan, Problem, _scan_concept

# sd-scripts' schema (config_util.py), split into what is applied here and what is only recognised
SUBSET_KEYS = {  # ascendable subset keys applied per folder -> type
    "num_repeats": int, "shuffle_caption": bool, "keep_tokens": int, "keep_tokens_separator": str,
    "caption_extension": str, "class_tokens": str, "flip_aug": bool, "random_crop": bool,
    "caption_dropout_rate": float, "caption_tag_dropout_rate": float, "caption_prefix": str,
    "caption_suffix": str, "caption_separator": str, "secondary_separator": str, "enable_wildcard": bool,
    "token_warmup_min": int, "token_warmup_step": float, "caption_dropout_every_n_epochs": int,
    "color_aug": bool, "face_crop_aug_range": list, "resize_interpolation": str,
}
DISTINCT_KEYS = {"image_dir": str, "is_reg": bool, "alpha_mask": bool, "conditioning_data_dir": str}
DATASET_KEYS = {  # dataset key -> the run setting it overrides
    "resolution": "resolution", "batch_size": "train_batch_size", "enable_bucket": "enable_bucket",
    "min_bucket_reso": "min_bucket_reso", "max_bucket_reso": "max_bucket_reso",
    "bucket_reso_steps": "bucket_reso_steps", "bucket_no_upscale": "bucket_no_upscale",
}
NOT_APPLIED = {"custom_attributes", "cache_info", "validation_seed", "validation_split", "network_multiplier",
               "metadata_file", "sample_ratio"}
KNOWN = set(SUBSET_KEYS) | set(DISTINCT_KEYS) | set(DATASET_KEYS) | NOT_APPLIED


def _unknown(key: str, where: str, path) -> ConfigError:
    close = difflib.get_close_matches(key, sorted(KNOWN), n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"Unknown key '{key}' in {where} of dataset config {path}.{hint}")


def _check(table: dict, where: str, path, allowed: set) -> None:
    for key, value in table.items():
        if key in ("datasets", "subsets") and isinstance(value, list):
            continue
        if key not in KNOWN:
            raise _unknown(key, where, path)
        if key not in allowed and key not in NOT_APPLIED:
            raise ConfigError(f"Key '{key}' belongs in a [[datasets.subsets]] table, not in {where} of dataset "
                              f"config {path}.")
        kind = SUBSET_KEYS.get(key) or DISTINCT_KEYS.get(key)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if key == "resolution":
            ok = isinstance(value, int) or (isinstance(value, list) and len(value) == 2)
        elif key == "face_crop_aug_range":  # [2.0, 4.0] as sd-scripts reads it ("2.0,4.0" as our field)
            ok = isinstance(value, str) or (isinstance(value, list) and len(value) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
        elif kind is not None:
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        else:
            ok = True
        if not ok:
            raise ConfigError(f"'{key}' in {where} of dataset config {path} must be {kind.__name__ if kind else 'valid'}"
                              f", got {value!r}.")


_read_cache: dict = {}  # resolved path -> ((mtime, size), checked dict): a run and its previews parse once


def read_dataset_config(path) -> dict:
    """The TOML as a dict with every key checked. ConfigError (one sentence) for a missing file, bad TOML,
    an unknown key or a value of the wrong type. Parsed once per version of the file (a copy is returned)."""
    p = Path(path)
    try:
        st = p.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None  # read_toml names the missing file
    key = str(p.resolve()) if stamp else None
    if key and key in _read_cache and _read_cache[key][0] == stamp:
        return copy.deepcopy(_read_cache[key][1])
    data = _read_checked(p)
    if key:
        _read_cache.clear()  # one file at a time is enough: the run's
        _read_cache[key] = (stamp, copy.deepcopy(data))
    return data


def _read_checked(p: Path) -> dict:
    from trainer.config.files import read_toml

    data = read_toml(p, "Dataset config")
    for key in data:
        if key not in ("general", "datasets"):
            close = difflib.get_close_matches(key, ["general", "datasets"], n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else " Only [general] and [[datasets]] are read."
            raise ConfigError(f"Unknown table '{key}' in dataset config {p}.{hint}")
    ascendable = set(SUBSET_KEYS) | set(DATASET_KEYS)
    _check(data.get("general", {}), "[general]", p, ascendable)
    datasets = data.get("datasets", [])
    if not isinstance(datasets, list) or not datasets:
        raise ConfigError(f"Dataset config {p} has no [[datasets]] table.")
    for n, ds in enumerate(datasets, 1):
        _check(ds, f"[[datasets]] #{n}", p, ascendable)
        subsets = ds.get("subsets", [])
        if not subsets:
            raise ConfigError(f"[[datasets]] #{n} of dataset config {p} has no [[datasets.subsets]].")
        for m, sub in enumerate(subsets, 1):
            _check(sub, f"subset #{m} of [[datasets]] #{n}", p, set(SUBSET_KEYS) | set(DISTINCT_KEYS))
            if not sub.get("image_dir"):
                raise ConfigError(f"Subset #{m} of [[datasets]] #{n} in dataset config {p} has no image_dir.")
    return data


def resolve_dir(folder: str, config_path: Path) -> Path:
    """A folder named in the dataset config at ``config_path``: a relative one is relative to the file."""
    d = Path(os.path.expanduser(folder))
    return d if d.is_absolute() else (config_path.parent / d)


def dataset_settings(data: dict) -> list[dict]:
    """Per [[datasets]], the run settings its dataset keys override (train_batch_size, resolution, ...)."""
    general = data.get("general", {})
    out = []
    for ds in data["datasets"]:
        values = {DATASET_KEYS[k]: v for k, v in {**general, **ds}.items() if k in DATASET_KEYS}
        if "resolution" in values:
            r = values["resolution"]
            values["resolution"] = f"{r[0]},{r[1]}" if isinstance(r, list) else f"{r},{r}"
        out.append(values)
    return out


def dataset_configs(cfg) -> list:
    """One cfg per [[datasets]]: the run's settings with that dataset's keys applied ([cfg] without a dataset
    config)."""
    if not getattr(cfg, "dataset_config", ""):
        return [cfg]
    return [cfg.replace(**values) for values in dataset_settings(read_dataset_config(cfg.dataset_config))]


def effective_config(cfg):
    """cfg with the dataset keys that every [[datasets]] ends up with the same value of (all of them for one
    dataset; unchanged without a dataset config). Idempotent: dataset_configs() of the result is that of cfg,
    since a key the datasets differ in keeps the run's value that the datasets without it fall back to."""
    cfgs = dataset_configs(cfg)
    if len(cfgs) == 1:
        return cfgs[0]
    common = {k: getattr(cfgs[0], k) for k in DATASET_KEYS.values()
              if all(getattr(c, k) == getattr(cfgs[0], k) for c in cfgs)}
    return cfg.replace(**common)


def subset_tables(data: dict) -> list[tuple[int, dict, dict]]:
    """Per subset in file order: (index of its [[datasets]], the subset keys it inherits from [general] and
    its [[datasets]] (sd-scripts' ascending), the subset's own table - the very dict inside ``data``)."""
    def ascending(table: dict) -> dict:
        return {k: v for k, v in table.items() if k in SUBSET_KEYS or k in NOT_APPLIED}

    general = ascending(data.get("general", {}))
    return [(n, {**general, **ascending(ds)}, sub)
            for n, ds in enumerate(data["datasets"]) for sub in ds["subsets"]]


def subset_options(data: dict, with_dataset: bool = False) -> list:
    """Every subset's keys with its [general] and [[datasets]] defaults merged in (sd-scripts' ascending);
    ``with_dataset``: (index of its [[datasets]], keys) pairs."""
    return [(n, {**inherited, **sub}) if with_dataset else {**inherited, **sub}
            for n, inherited, sub in subset_tables(data)]


def run_values(options: dict) -> dict:
    """A subset's keys in the form of the run's fields: face_crop_aug_range [2.0, 4.0] -> "2.0,4.0"."""
    out = dict(options)
    if isinstance(out.get("face_crop_aug_range"), list):
        out["face_crop_aug_range"] = ",".join(str(float(v)) for v in out["face_crop_aug_range"])
    return out


def scan_dataset_config(cfg) -> DatasetScan:
    """One scan of every subset folder of cfg.dataset_config (regularization subsets flagged is_reg, each
    concept's ``dataset`` the index of its [[datasets]])."""
    path = Path(cfg.dataset_config)
    data = read_dataset_config(path)
    concepts: list[Concept] = []
    problems: list[Problem] = []
    for dataset, sub in subset_options(data, with_dataset=True):
        folder = resolve_dir(sub["image_dir"], path)
        if not folder.is_dir():
            raise DatasetError(f"image_dir '{sub['image_dir']}' of dataset config {path} is not a folder.")
        ignored = sorted(k for k in sub if k in NOT_APPLIED and sub[k])  # a default-off value changes nothing
        if ignored:
            problems.append(Problem(folder, "dataset_config_key", f"Dataset config {path.name}: "
                                    f"{', '.join(ignored)} for '{folder.name}' is not supported here and not used."))
        options = {k: v for k, v in sub.items() if k in SUBSET_KEYS or k in ("alpha_mask", "conditioning_data_dir")}
        options.pop("num_repeats", None)
        if options.get("conditioning_data_dir"):  # relative to the file, like image_dir (not to the cwd)
            options["conditioning_data_dir"] = str(resolve_dir(options["conditioning_data_dir"], path))
        options = run_values(options)
        concept = Concept(folder, sub.get("class_tokens") or folder.name, int(sub.get("num_repeats", 1)),
                          options=options, is_reg=bool(sub.get("is_reg", False)), dataset=dataset)
        ext = options.get("caption_extension") or cfg.caption_extension
        _scan_concept(concept, ext if ext.startswith(".") else "." + ext, problems)
        concepts.append(concept)
    if not any(c.images for c in concepts):
        raise DatasetError(f"The folders of dataset config {path} hold no images.")
    for note in reg_notes(concepts):
        problems.append(Problem(path, "reg_balance", note))
    return DatasetScan(root=path.parent, concepts=concepts, problems=problems,
                       caption_extension=cfg.caption_extension)


# ------------------------------------------------------------------------------------------------ writing
def concepts_to_dataset_config(concepts, cfg=None) -> dict:
    """A dataset config holding one subset per concept with its own options (the Dataset page's Save)."""
    subsets = []
    for c in concepts:
        sub = {"image_dir": str(c.path), "num_repeats": int(c.repeats)}
        if c.is_reg:
            sub["is_reg"] = True
        for k, v in (c.options or {}).items():
            if v is not None and (k in SUBSET_KEYS or k in DISTINCT_KEYS) and k not in sub:
                if k == "face_crop_aug_range" and isinstance(v, str):
                    v = [float(x) for x in v.split(",")]  # sd-scripts' TOML form
                sub[k] = v
        subsets.append(sub)
    ds: dict = {"subsets": subsets}
    if cfg is not None:
        ds.update({"resolution": _resolution_value(cfg.resolution), "batch_size": cfg.train_batch_size,
                   "enable_bucket": bool(cfg.enable_bucket), "min_bucket_reso": cfg.min_bucket_reso,
                   "max_bucket_reso": cfg.max_bucket_reso, "bucket_no_upscale": bool(cfg.bucket_no_upscale)})
    return {"datasets": [ds]}


def _resolution_value(text: str):
    from trainer.config.validate import parse_resolution

    w, h = parse_resolution(text)
    return w if w == h else [w, h]


def save_dataset_config(data: dict, path) -> None:
    """Written atomically (a crash leaves the old file); read back by :func:`read_dataset_config`."""
    from trainer.fileio import write_atomic

    write_atomic(path, toml.dumps(data).encode("utf-8"))
