"""Holding images out of training for the validation loss (validation_split, validation_seed).

Like sd-scripts, each concept folder is split on its own after a seeded shuffle; unlike sd-scripts (whose
training and validation parts can overlap by one image after rounding) the parts never share an image,
every concept keeps at least one training image, and a concept of two or more images gives at least one.
The held-out paths are written into every saved state (validation.json), and a resumed run takes them from
there: the same images stay out of training even when the seed changed. No torch here."""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

STATE_FILE = "validation.json"


def _rng(seed: int, folder: str) -> random.Random:
    digest = hashlib.sha256(repr(("validation", seed, folder)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def held_out_paths(items, fraction: float, seed: int) -> set[str]:
    """The image paths to hold out, per concept folder."""
    by_folder: dict[str, list[str]] = {}
    for item in items:
        by_folder.setdefault(item.entry.concept.folder_name, []).append(str(item.entry.path))
    out: set[str] = set()
    for folder, paths in sorted(by_folder.items()):
        paths = sorted(paths)
        _rng(seed, folder).shuffle(paths)
        n = len(paths)
        k = min(n - 1, max(1 if n >= 2 else 0, round(n * fraction)))
        out.update(paths[n - k:])
    return out


def resumed_paths(resume: str) -> set[str] | None:
    f = Path(resume) / STATE_FILE if resume else None
    if f is None or not f.is_file():
        return None
    return set(json.loads(f.read_text(encoding="utf-8"))["held_out"])


def save_split(folder: Path, paths: list[str]) -> None:
    from ..fileio import write_atomic

    write_atomic(Path(folder) / STATE_FILE, json.dumps({"held_out": sorted(paths)}, indent=1).encode("utf-8"))


def split_items(items: list, repeats: list[int], cfg, seed: int):
    """-> (training items, their repeats, held-out items). Nothing is held out when validation_split is 0."""
    if not cfg.validation_split or cfg.validation_split <= 0:
        return items, repeats, []
    out = resumed_paths(cfg.resume)
    if out is None:
        out = held_out_paths(items, cfg.validation_split,
                             cfg.validation_seed if cfg.validation_seed is not None else seed)
    keep = [(i, r) for i, r in zip(items, repeats) if str(i.entry.path) not in out]
    held = [i for i in items if str(i.entry.path) in out]
    return [i for i, _ in keep], [r for _, r in keep], held
