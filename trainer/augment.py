"""Image options of sd-scripts' dataset: color_aug and resize_interpolation (pure PIL/numpy, no torch)."""
from __future__ import annotations

import random

import numpy as np
from PIL import Image

# resize_interpolation names (cv2's in sd-scripts) -> PIL filters; area averaging is PIL's BOX
RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "nearest": Image.Resampling.NEAREST,
            "bilinear": Image.Resampling.BILINEAR, "linear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "cubic": Image.Resampling.BICUBIC, "area": Image.Resampling.BOX}


def resample_filter(name: str | None, shrinking: bool):
    """The filter for resize_interpolation; unset: Lanczos when shrinking, bicubic when enlarging (LoRA
    Desk's resize before the option existed, kept so unchanged configs train the same)."""
    if name:
        return RESAMPLE[name]
    return Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC


def color_aug(img: Image.Image, rng: random.Random) -> Image.Image:
    """sd-scripts' color_aug: a third of the time either a hue shift of up to 8/180 of the circle or a gamma
    between 0.95 and 1.05 applied to the 0-255 values (clipped), as its numpy code does."""
    if rng.random() > 0.33:
        return img
    if rng.random() > 0.5:
        shift = rng.uniform(-8, 8) * 256 / 180  # cv2 hue runs 0-180, PIL's 0-256
        hsv = np.asarray(img.convert("HSV")).copy()
        hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.float32) + shift) % 256).astype(np.uint8)
        return Image.fromarray(hsv, "HSV").convert("RGB")
    gamma = rng.uniform(0.95, 1.05)
    arr = np.clip(np.asarray(img, dtype=np.float32) ** gamma, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")
