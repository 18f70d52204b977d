"""Presets: kohya TOML files that set only the keys they name. Built-in ones ship in resources/presets/,
user presets live in the user's config folder (a name of a built-in one is refused)."""
from __future__ import annotations

import difflib
from pathlib import Path

import toml

from trainer.config.fields import TrainConfig
from trainer.config.files import dumps_toml, flatten, from_dict
from trainer.errors import ConfigError
from trainer.fileio import write_atomic
from trainer.paths import user_presets_dir
from trainer.resources import resource_path


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


_BAD_CHARS = set('<>:"/\\|?*') | {chr(c) for c in range(32)}
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def user_preset_path(name: str) -> Path:
    """Where a user preset of this name is saved; ConfigError for a name that cannot be a file name in the
    presets folder (path separators, characters Windows refuses) or that would hide a built-in preset."""
    name = name.strip()
    if not name or name.startswith(".") or any(ch in _BAD_CHARS for ch in name) or \
            name.lower() in _WINDOWS_RESERVED or name.endswith("."):
        raise ConfigError(f"'{name}' cannot be a preset name: use letters, digits, spaces, '-' or '_' "
                          "(no / \\ : * ? \" < > |).")
    if (builtin_dir() / f"{name}.toml").is_file():
        raise ConfigError(f"'{name}' is a built-in preset; save yours under another name.")
    return user_presets_dir() / f"{name}.toml"


def save_user_preset(cfg: TrainConfig, name: str, keys: list[str] | None = None, *, overwrite: bool = False) -> Path:
    """Save the changed settings (or just `keys`) as a user preset; paths are never stored in a preset.
    An existing user preset of that name is replaced only with ``overwrite``."""
    path = user_preset_path(name)
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps_toml(cfg, only_changed=True)
    data = toml.loads(text)
    for k in ("pretrained_model_name_or_path", "train_data_dir", "output_dir", "vae", "network_weights",
              "resume", "logging_dir", "output_name"):
        data.pop(k, None)
    if keys is not None:
        data = {k: v for k, v in data.items() if k in keys}
    write_atomic(path, toml.dumps(data).encode("utf-8"))
    return path
