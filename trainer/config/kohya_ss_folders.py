"""Per-folder options of an imported LoRA_Easy_Training_Scripts / kohya_ss config's ``[[subsets]]``: kept as an
sd-scripts dataset config (trainer.dataset.config_file) instead of being flattened into one setting for all."""
from __future__ import annotations

from pathlib import Path


def keep_per_folder(subsets: list, res) -> None:
    """When the folders differ in their options (or are not named <repeats>_<name>), one flat config would
    lose them: they are kept as a dataset config with one subset per folder (see save_dataset_config)."""
    from trainer.dataset.config_file import DISTINCT_KEYS, NOT_APPLIED, SUBSET_KEYS

    # sd-scripts keys this trainer does not apply are kept too: the scan of the dataset config names them
    kept = [{k: v for k, v in s.items() if k in SUBSET_KEYS or k in DISTINCT_KEYS or k in NOT_APPLIED}
            for s in subsets if isinstance(s, dict) and s.get("image_dir")]
    options = [{k: v for k, v in s.items() if k not in ("image_dir", "num_repeats")} for s in kept]
    named = all(Path(str(s["image_dir"])).name.split("_", 1)[0] == str(s.get("num_repeats", "")) for s in kept)
    if len({repr(sorted(o.items())) for o in options}) > 1 or not named:
        res.dataset_config = {"datasets": [{"subsets": kept}]}
        res.notes.append(f"The {len(kept)} folders keep their own options (repeats, captions, flip) in a "
                         "dataset config.")


def save_dataset_config(res, config_path) -> str | None:
    """Write ``res.dataset_config`` beside the imported file as ``<name>.dataset.toml`` (never over an
    existing file) and point the imported config at it. Returns the path written, or None."""
    from trainer.dataset.config_file import save_dataset_config as save
    from trainer.fileio import unused_path

    if not res.dataset_config:
        return None
    p = Path(config_path)
    target = unused_path(p.parent, p.stem + ".dataset", ".toml")
    save(res.dataset_config, target)
    res.config = res.config.replace(dataset_config=str(target), train_data_dir="")
    res.notes.append(f"Per-folder options saved to {target}.")
    return str(target)
