"""Parsing of ``optimizer_args`` / ``lr_scheduler_args`` (``key=value`` strings), as sd-scripts does.

sd-scripts splits every item on ``=`` and runs the value through :func:`ast.literal_eval`, so
``"betas=0.9,0.99"`` becomes the tuple ``(0.9, 0.99)`` and ``"decouple=True"`` the bool ``True``.
We do the same, and in addition:

* split on the first ``=`` only (a value may contain ``=``);
* keep a value that is not a Python literal as a plain string (``"mode=triangular"``) instead of failing;
* read ``true``/``false`` in any case as bools (a common typo for ``True``/``False``);
* accept one string holding several items, quoted as on a command line (``'"a=1" "b=0.9,0.99"'``).

Later items win over earlier ones with the same key, as in sd-scripts.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from trainer.errors import ConfigError


def parse_value(text: str) -> Any:
    """One ``value`` of a ``key=value`` item: a Python literal when it is one, else the string itself."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_optimizer_args(
    items: Iterable[str] | str | Mapping[str, Any] | None, setting: str = "optimizer_args"
) -> dict[str, Any]:
    """``["weight_decay=0.01", "betas=0.9,0.99"]`` -> ``{"weight_decay": 0.01, "betas": (0.9, 0.99)}``.

    ``setting`` names the setting in error messages (``lr_scheduler_args`` uses the same parser).
    A mapping is returned as a copy; ``None`` or an empty list gives ``{}``.
    """
    if isinstance(items, Mapping):
        return {str(k): v for k, v in items.items()}
    return {key: parse_value(value) for _item, key, value in split_items(items, setting)}


def split_items(
    items: Iterable[str] | str | None, setting: str = "optimizer_args"
) -> list[tuple[str, str, str]]:
    """The ``(item, key, value text)`` of every ``key=value`` item, in order (a key may repeat; the last one
    wins in :func:`parse_optimizer_args`). Raises ConfigError for an item that is not ``key=value``."""
    if items is None:
        return []
    if isinstance(items, str):
        try:
            items = shlex.split(items)
        except ValueError as e:
            raise ConfigError(
                f"{setting} cannot be read ({e}): write items as key=value separated by spaces."
            ) from e
    result: list[tuple[str, str, str]] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{setting} item {item!r} is not a key=value string.")
        text = item.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1].strip()  # '"decouple=True"' pasted with its quotes
        if not text:
            continue
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key or not key.isidentifier():
            raise ConfigError(
                f"{setting} item '{item}' is not of the form key=value (for example weight_decay=0.01)."
            )
        if not value.strip():
            raise ConfigError(f"{setting} item '{item}' has no value after '='.")
        result.append((item, key, value))
    return result


def is_unreadable_literal(text: str) -> bool:
    """A value that starts like a Python number, tuple, list, dict or quoted string but is none
    (``(0.9,0.99``, ``1e-4x``): :func:`parse_value` keeps it as text, which no optimizer can use."""
    text = text.strip()
    if text[:1] not in "0123456789+-.([{'\"":
        return False
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return True
    return False


def format_args(kwargs: Mapping[str, Any]) -> str:
    """sd-scripts' text of the args: ``{"weight_decay": 0.01, "betas": (0.9, 0.999)}`` ->
    ``"weight_decay=0.01,betas=(0.9, 0.999)"``."""
    return ",".join(f"{k}={v}" for k, v in kwargs.items())
