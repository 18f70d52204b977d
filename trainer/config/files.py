"""Reading and writing TrainConfig: TOML files (flat or sectioned, like sd-scripts' --config_file),
plain dicts and command-line overrides. Type errors and unknown keys become ConfigError sentences."""
from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

import toml

from trainer.cli.argparsing import did_you_mean
from trainer.config.fields import FIELDS, TrainConfig, to_dict
from trainer.config.compat import split
from trainer.errors import ConfigError
from trainer.fileio import write_atomic

_HINTS = typing.get_type_hints(TrainConfig)
INT_OR_RATIO = ("lr_warmup_steps", "lr_decay_steps")  # sd-scripts' int_or_float: 0.2 is a share, 20 steps
# sd-scripts passes a TOML value to its code untouched (argparse converts only command-line text), so a TOML
# int stays an int: network_alpha = 4 writes ss_network_alpha "4" and int64 .alpha tensors, 4.0 writes "4.0"
KEEPS_TOML_INT = ("network_alpha",)


def _base_types(name: str) -> tuple[set[type], bool]:
    """The plain types a field accepts and whether None is allowed."""
    hint = _HINTS[name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    allowed = {typing.get_origin(a) or a for a in args}
    nullable = type(None) in allowed
    allowed.discard(type(None))
    return allowed, nullable


def suggest(key: str) -> str:
    return did_you_mean(key, FIELDS)


def coerce(name: str, value: Any, *, from_text: bool = False) -> Any:
    """Check (and, for command-line text, convert) one value for field `name`."""
    if name not in FIELDS:
        raise ConfigError(f"Unknown setting '{name}'.{suggest(name)}")
    allowed, nullable = _base_types(name)
    if value is None or (from_text and isinstance(value, str) and value.strip().lower() in ("", "none")
                         and allowed != {str}):
        if nullable or allowed == {str}:
            return None if nullable else ""
        raise ConfigError(f"Setting '{name}' needs a value.")
    if list in allowed:
        if isinstance(value, str):
            return [value] if value else []
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
    elif bool in allowed:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
    elif int in allowed:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif float in allowed:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            keep_int = name in INT_OR_RATIO or (name in KEEPS_TOML_INT and not from_text)
            return value if keep_int and isinstance(value, int) else float(value)
        if from_text and isinstance(value, str):
            try:
                return int(value) if name in INT_OR_RATIO and value.isdigit() else float(value)
            except ValueError:
                pass
    elif str in allowed:
        if isinstance(value, str):
            return value
        if name == "resolution" and isinstance(value, (int, list, tuple)):
            return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    kind = sorted(t.__name__ for t in allowed)[0]
    raise ConfigError(f"Setting '{name}' must be {kind_words(kind)}, got {value!r}.")


def kind_words(kind: str) -> str:
    return {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "text",
            "list": "a list of strings"}.get(kind, kind)


def flatten(data: dict, source: str = "") -> dict:
    """sd-scripts style: section names are ignored, their keys are merged into one flat dict."""
    flat: dict = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for k, v in flatten(value, source).items():
                flat[k] = v
        else:
            flat[key] = value
    return flat


def from_dict(data: dict, *, base: TrainConfig | None = None, source: str = "") -> TrainConfig:
    """Aliases are mapped and accepted-only sd-scripts options kept aside (config_compat); the run logs a
    sentence for each of those that asks for something."""
    values = to_dict(base or TrainConfig())
    where = f" in {source}" if source else ""
    try:
        known, accepted = split(flatten(data))
    except ConfigError as e:
        raise ConfigError(f"{e}{' (' + source + ')' if source else ''}") from None
    for key, value in known.items():
        if key not in FIELDS:
            raise ConfigError(f"Unknown setting '{key}'{where}.{suggest(key)}")
        try:
            values[key] = coerce(key, value)
        except ConfigError as e:
            raise ConfigError(f"{e}{' (' + source + ')' if source else ''}") from None
    cfg = TrainConfig(**values)
    merged = {**(base.accepted_only if base else {}), **accepted}
    if merged:
        cfg.accepted_only = merged
    return cfg


def read_toml(path: str | os.PathLike, what: str = "Config file") -> dict:
    """A TOML file as a dict; ConfigError (one sentence naming the file) when missing, not UTF-8 or not TOML."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {p} does not exist.")
    try:
        return toml.loads(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {p} is not UTF-8 text.") from None
    except toml.TomlDecodeError as e:
        raise ConfigError(f"{what} {p} is not valid TOML: {e}") from None


def load_toml(path: str | os.PathLike, *, base: TrainConfig | None = None) -> TrainConfig:
    return from_dict(read_toml(path), base=base, source=str(Path(path)))


def dumps_toml(cfg: TrainConfig, *, only_changed: bool = False) -> str:
    """Flat TOML with kohya names; None values are left out (TOML has no null)."""
    data = {k: v for k, v in to_dict(cfg, only_changed=only_changed).items() if v is not None}
    data.update({k: v for k, v in cfg.accepted_only.items() if v is not None})  # the user's keys stay
    return toml.dumps(data)


def save_toml(cfg: TrainConfig, path: str | os.PathLike, *, only_changed: bool = False) -> None:
    """Written atomically: a crash mid-write leaves the old file intact."""
    write_atomic(path, dumps_toml(cfg, only_changed=only_changed).encode("utf-8"))


def apply_overrides(cfg: TrainConfig, pairs: dict[str, Any]) -> TrainConfig:
    """Command-line overrides (text values) win over the file."""
    changes = {k: coerce(k, v, from_text=True) for k, v in pairs.items()}
    return cfg.replace(**changes)
