"""Presets: kohya TOML files that set only the keys they name. Built-in ones ship in resources/presets/,
user presets live in the user's config folder and win over built-ins of the same name."""
from __future__ import annotations

import difflib
from pathlib import Path

import toml

from .config import TrainConfig
from .config_io import dumps_toml, flatten, from_dict
from .errors import ConfigError
from .fileio import write_atomic
from .paths import user_presets_dir
from .resources import resource_path


def builtin_dir() -> Path:
    return Path(resource_path("presets"))


def list_presets() -> dict[str, Path]:
    """name -> file; user presets shadow built-in ones."""
    found = {p.stem: p for p in sorted(builtin_dir().glob("*.toml"))}
    user = user_presets_dir()
    if user.is_dir():
        found.update({p.stem: p for p in sorted(user.glob("*.toml"))})
    return found


def preset_values(name: str) -> dict:
    presets = list_presets()
    path = presets.get(name) or (Path(name) if Path(name).suffix == ".toml" and Path(name).is_file() else None)
    if path is None:
        close = difflib.get_close_matches(name, presets, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"Unknown preset '{name}'.{hint} Presets: {', '.join(presets)}.")
    try:
        return flatten(toml.loads(path.read_text(encoding="utf-8")))
    except toml.TomlDecodeError as e:
        raise ConfigError(f"Preset file {path} is not valid TOML: {e}") from None


def apply_preset(cfg: TrainConfig, name: str) -> TrainConfig:
    """The config with the preset's keys replaced and everything else kept."""
    return from_dict(preset_values(name), base=cfg, source=f"preset {name}")


def save_user_preset(cfg: TrainConfig, name: str, keys: list[str] | None = None) -> Path:
    """Save the changed settings (or just `keys`) as a user preset; paths are never stored in a preset."""
    folder = user_presets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    text = dumps_toml(cfg, only_changed=True)
    data = toml.loads(text)
    for k in ("pretrained_model_name_or_path", "train_data_dir", "output_dir", "vae", "network_weights",
              "resume", "logging_dir", "output_name"):
        data.pop(k, None)
    if keys is not None:
        data = {k: v for k, v in data.items() if k in keys}
    write_atomic(path, toml.dumps(data).encode("utf-8"))
    return path
