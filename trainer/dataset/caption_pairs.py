"""Which caption file belongs to each image of a folder (the rules in trainer/dataset/scan.py's docstring):
the scan and the tagger both pair this way, so the tagger writes the file the training reads."""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from .images import is_image_file


def _face_crop_stem(stem: str) -> str | None:
    tokens = stem.split("_")
    return "_".join(tokens[:-4]) if len(tokens) >= 5 else None


class CaptionPairs(NamedTuple):
    """:func:`pair_captions`' answer for one folder."""

    captions: dict[str, str | None]  # image file name -> its caption file's name (None: it has none)
    orphans: list[str]  # caption files that no image uses


def pair_captions(names: Iterable[str], caption_extension: str) -> CaptionPairs:
    """Which caption file belongs to each image among ``names`` (the file names of one folder, in the order
    the images are wanted): the same stem first, then a stem differing only in letter case, then for a
    face-crop name ``name_x_y_w_h`` the caption ``name`` (see trainer/dataset/scan.py's docstring)."""
    ext = caption_extension.lower()
    images: list[str] = []
    captions: dict[str, str] = {}  # stem -> caption file name
    for name in names:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() == ext:
            captions[stem] = name
        elif is_image_file(name):
            images.append(name)
    folded: dict[str, str] = {}
    for stem, name in captions.items():
        folded.setdefault(stem.casefold(), name)
    paired: dict[str, str | None] = {}
    for name in images:
        stem = os.path.splitext(name)[0]
        cap = captions.get(stem) or folded.get(stem.casefold())
        if cap is None:
            face = _face_crop_stem(stem)
            if face is not None:
                cap = captions.get(face)
        paired[name] = cap
    used = set(paired.values())
    return CaptionPairs(paired, [n for n in captions.values() if n not in used])
