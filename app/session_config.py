"""The Training page's settings from one session to the next.

They are saved as kohya TOML in the user's config folder when the window closes and opened at the next start
(unless a config file is given on the command line). The very first start begins from the SD 1.5 8 GB preset
rather than sd-scripts' command-line defaults (learning rate 2e-6, rank 4, fp32, no bucketing: a slow run that
learns almost nothing). No torch here: this runs before the window is shown.
"""
from __future__ import annotations

from pathlib import Path

STARTER_PRESET = "sd15_8gb"


def session_path() -> Path:
    from trainer.paths import user_config_dir

    return user_config_dir() / "last_session.toml"


def starter_config():
    from trainer.config.fields import TrainConfig
    from trainer.config.presets import apply_preset

    return apply_preset(TrainConfig(), STARTER_PRESET)


def load_session_config():
    """(TrainConfig, "last" | "starter"): the last session's settings, or the starter preset."""
    from trainer.config.files import load_toml
    from trainer.errors import UserError

    path = session_path()
    if path.is_file():
        try:
            return load_toml(path), "last"
        except UserError:  # a damaged or outdated file: start over rather than refuse to start
            pass
    return starter_config(), "starter"


def save_session_config(cfg) -> Path:
    from trainer.config.files import dumps_toml
    from trainer.fileio import write_atomic

    path = session_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, dumps_toml(cfg).encode("utf-8"))
    return path
