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


def face_info(path) -> tuple[int, int, int, int] | None:
    """Face centre and size from a file name ending in _cx_cy_w_h (sd-scripts' face-crop naming), or None."""
    from pathlib import Path

    tokens = Path(path).stem.split("_")
    if len(tokens) < 5:
        return None
    try:
        cx, cy, w, h = (int(t) for t in tokens[-4:])
    except ValueError:
        return None
    return (cx, cy, w, h) if cx > 0 else None


def parse_face_range(text: str) -> tuple[float, float]:
    """'2.0,4.0' -> (2.0, 4.0): the face takes 1/4 to 1/2 of the shorter side of the crop."""
    lo, hi = (float(v) for v in str(text).split(","))
    return lo, hi


def face_crop(img: Image.Image, target: tuple[int, int], face: tuple[int, int, int, int],
              face_range: tuple[float, float], random_crop: bool, rng: random.Random,
              interpolation: str | None) -> tuple[Image.Image, tuple[int, int]]:
    """sd-scripts' crop_target (enable_bucket off): scale the image so the face's larger side is between
    1/face_range[1] and 1/face_range[0] of the crop's shorter side (never enlarging), then crop around the
    face. -> (image of size target, (top, left) of the crop)."""
    width, height = img.size
    tw, th = target
    cx, cy, fw, fh = face
    face_size = max(fw, fh)
    size = min(th, tw)
    min_scale = max(th / height, tw / width)
    min_scale = min(1.0, max(min_scale, size / (face_size * face_range[1])))
    max_scale = min(1.0, max(min_scale, size / (face_size * face_range[0])))
    scale = min_scale if min_scale >= max_scale else rng.uniform(min_scale, max_scale)
    nw, nh = int(width * scale + 0.5), int(height * scale + 0.5)
    if (nw, nh) != (width, height):
        img = img.resize((nw, nh), resample_filter(interpolation, True))
    cx, cy = int(cx * scale + 0.5), int(cy * scale + 0.5)
    starts = []
    for target_size, length, face_p in ((th, nh, cy), (tw, nw, cx)):
        p1 = face_p - target_size // 2
        if random_crop:  # off-centre now and then, so the background is learned too
            spread = max(length - face_p, face_p)
            p1 = p1 + (rng.randint(0, spread) + rng.randint(0, spread)) - spread
        elif face_range[0] != face_range[1] and face_size > size // 10 and face_size >= 40:
            p1 = p1 + rng.randint(-face_size // 20, face_size // 20)
        starts.append(max(0, min(p1, length - target_size)))
    top, left = starts
    return img.crop((left, top, left + tw, top + th)), (top, left)
