"""The masked_loss mask of an image, as a red tint over what the loss ignores (the Dataset page's preview).

The mask is the one training takes (trainer.dataset.mask_files.mask_source), read off the GUI thread."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

TINT = (220, 40, 40)  # ignored area: red
MAX_ALPHA = 150       # a fully ignored pixel is tinted this much (of 255)


def read_overlay(source: tuple[str, Path] | None, size: tuple[int, int] | None) -> QImage | None:
    """The tint image for ``source`` scaled to ``size`` (the preview's image size), or None (also for a
    missing mask image: the preview says so instead)."""
    if source is None or size is None or source[0] == "missing":
        return None
    from trainer.dataset.mask_files import read_mask_image

    kind, path = source
    try:
        mask = read_mask_image(path, "A" if kind == "alpha" else "RGB")
    except Exception:  # noqa: BLE001 - an unreadable mask shows no overlay; training names the file
        return None
    mask = mask.resize(size)
    a = np.asarray(mask, dtype=np.float32) / 255.0
    rgba = np.zeros((a.shape[0], a.shape[1], 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = TINT
    rgba[..., 3] = ((1.0 - a) * MAX_ALPHA).astype(np.uint8)
    img = QImage(rgba.data, a.shape[1], a.shape[0], 4 * a.shape[1], QImage.Format.Format_RGBA8888)
    return img.copy()  # detached from the numpy buffer
