"""Which tags a tagger's scores give, and how they meet the caption already on disk.

* general tags (category 0) at or above ``threshold``, character tags (category 4) at or above
  ``character_threshold``; rating tags (9) are never added. Tags come in the CSV's order, general tags first
  (as kohya's tagger writes them).
* ``exclude``: tags never added, compared without case and with ``_`` and space alike.
* ``underscores``: ``long_hair`` becomes ``long hair``, except kaomoji (``^_^``, ``o_o``) and tags of up to
  three characters, which kohya's tagger keeps as they are.
* ``mode="add"`` keeps the existing tags and appends the new ones it lacks; ``"replace"`` drops them.
  The trigger word (or several, comma-separated) goes first either way, and no tag appears twice.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import CHARACTER, GENERAL, TagTable

MODES = ("add", "replace")
# SmilingWolf's list of kaomoji tags (their underscores are part of the face)
KAOMOJI = frozenset({"0_0", "(o)_(o)", "+_+", "+_-", "._.", "<o>_<o>", "<|>_<|>", "=_=", ">_<", "3_3", "6_9",
                     ">_o", "@_@", "^_^", "o_o", "u_u", "x_x", "|_|", "||_||"})


@dataclass(frozen=True)
class TagOptions:
    threshold: float = 0.35
    character_threshold: float = 0.85
    exclude: tuple[str, ...] = ()
    underscores: bool = True  # underscores to spaces
    mode: str = "add"
    trigger: str = ""

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'add' or 'replace', not {self.mode!r}")


def parse_tag_list(text: str) -> tuple[str, ...]:
    """``"a, b ,,c"`` -> ``("a", "b", "c")``."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def tag_key(tag: str) -> str:
    """How tags are compared: without case, ``_`` and space alike."""
    return " ".join(tag.replace("_", " ").lower().split())


def readable(tag: str) -> str:
    """Underscores to spaces, kaomoji and very short tags kept."""
    return tag if len(tag) <= 3 or tag in KAOMOJI else tag.replace("_", " ")


def select_tags(probs: np.ndarray, table: TagTable, opts: TagOptions) -> list[str]:
    """The tags of one image's scores (``[tags]``), in the CSV's order, general before character tags."""
    excluded = {tag_key(t) for t in opts.exclude}
    general, character = [], []
    for name, cat, p in zip(table.names, table.categories, probs.tolist()):
        if cat == GENERAL and p >= opts.threshold:
            general.append(name)
        elif cat == CHARACTER and p >= opts.character_threshold:
            character.append(name)
    tags = [readable(t) if opts.underscores else t for t in general + character]
    return [t for t in tags if tag_key(t) not in excluded]


def merge_tags(existing: list[str], new: list[str], opts: TagOptions) -> list[str]:
    """The caption's tags after tagging (see the module docstring)."""
    base = list(existing) if opts.mode == "add" else []
    out: list[str] = []
    seen: set[str] = set()
    for t in [*parse_tag_list(opts.trigger), *base, *new]:
        k = tag_key(t)
        if k and k not in seen:
            seen.add(k)
            out.append(t)
    return out
