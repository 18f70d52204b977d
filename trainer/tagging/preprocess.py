"""An image as WD14 taggers expect it (SmilingWolf's taggers, kohya's tag_images_by_wd14_tagger.py): upright
RGB with transparency on white, padded to a centred square with white, resized to the model's input size
(area averaging down, bicubic up), channels in BGR order, float32 0-255, ``[height, width, 3]``."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from trainer.dataset.images import open_image_rgb


def pad_square_white(img: Image.Image) -> Image.Image:
    w, h = img.size
    size = max(w, h)
    if w == h:
        return img
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(img, ((size - w) // 2, (size - h) // 2))
    return canvas


def prepare_image(path: str | os.PathLike, width: int, height: int) -> np.ndarray:
    """Raises :class:`trainer.dataset.images.ImageReadError` (naming the file) for an unreadable image."""
    img = pad_square_white(open_image_rgb(path))
    if img.size != (width, height):
        shrink = img.size[0] > width
        img = img.resize((width, height), Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC)
    rgb = np.asarray(img, dtype=np.float32)
    return np.ascontiguousarray(rgb[:, :, ::-1])  # RGB -> BGR
