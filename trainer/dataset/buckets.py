"""Aspect-ratio bucketing, reproducing sd-scripts (``model_util.make_bucket_resolutions`` and
``train_util.BucketManager.select_bucket`` / ``trim_and_resize_if_required``) number for number.

Formulas (``W x H`` = ``resolution``, ``s`` = ``bucket_reso_steps``, image ``w x h``, ``ar = w / h``):

* **Bucket list** (:func:`make_bucket_resolutions`): ``side = floor(sqrt(W*H) / s) * s`` gives the square
  bucket; then for every width ``bw`` from ``min`` to ``max`` in steps of ``s``:
  ``bh = min(max, floor((W*H // bw) / s) * s)``; when ``bh >= min`` both ``(bw, bh)`` and ``(bh, bw)`` are
  buckets. The set is sorted.
* **Predefined buckets** (``enable_bucket`` without ``bucket_no_upscale``): an image whose exact size is a
  bucket keeps it; otherwise the bucket with the smallest ``|bucket_ar - ar|`` (first in sorted order on
  ties). The image is scaled so it covers the bucket: ``scale = bh / h`` when ``ar > bucket_ar`` else
  ``bw / w``; ``resized = (int(w*scale + .5), int(h*scale + .5))``. This scales *up* small images.
* **No upscale** (``bucket_no_upscale``): if ``w*h > W*H`` the image is shrunk to area ``W*H`` keeping its
  aspect ratio, with the width or the height rounded to ``s`` (whichever keeps the aspect ratio better;
  rounding is ``int(x + .5)`` then down to a multiple of ``s``); otherwise it keeps its size. The bucket is
  the resized size rounded *down* to multiples of ``s`` (the excess is cropped). ``min/max_bucket_reso`` are
  ignored. An image narrower than ``s`` gets a 0-wide bucket: :attr:`BucketAssignment.usable` is False.
* **No bucketing** (``enable_bucket=False``): one bucket, ``resolution``; every image is scaled (up or down)
  to cover it and centre-cropped, by the same formula as the predefined case.
* **Crop**: the resized image is trimmed to the bucket, centred (``(resized - bucket) // 2``) or, with
  ``random_crop``, at ``rng.randint(0, excess)`` -- width first, then height, as sd-scripts draws them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from trainer.errors import ConfigError

Size = tuple[int, int]


def make_bucket_resolutions(
    max_reso: Size, min_size: int = 256, max_size: int = 1024, divisible: int = 64
) -> list[Size]:
    """The sorted list of (width, height) buckets sd-scripts builds for ``max_reso`` (see module doc)."""
    max_w, max_h = max_reso
    max_area = max_w * max_h
    side = int(math.sqrt(max_area) // divisible) * divisible
    resos = {(side, side)}
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // divisible) * divisible)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += divisible
    return sorted(resos)


def adjust_bucket_reso(
    resolution: Size, min_bucket_reso: int, max_bucket_reso: int, steps: int
) -> tuple[int, int]:
    """Round ``min_bucket_reso`` down and ``max_bucket_reso`` up to multiples of ``steps`` (as sd-scripts
    does) and check them against ``resolution``; raises :class:`ConfigError` with a sentence when they
    conflict."""
    if steps <= 0:
        raise ConfigError(f"bucket_reso_steps must be a positive number of pixels, not {steps}.")
    if min_bucket_reso % steps:
        min_bucket_reso -= min_bucket_reso % steps
    if max_bucket_reso % steps:
        max_bucket_reso += steps - max_bucket_reso % steps
    if min(resolution) < min_bucket_reso:
        raise ConfigError(
            f"min_bucket_reso ({min_bucket_reso}) must not be larger than the resolution's shorter side "
            f"({min(resolution)})."
        )
    if max(resolution) > max_bucket_reso:
        raise ConfigError(
            f"max_bucket_reso ({max_bucket_reso}) must not be smaller than the resolution's longer side "
            f"({max(resolution)})."
        )
    return min_bucket_reso, max_bucket_reso


@dataclass(frozen=True)
class BucketAssignment:
    """Where one image goes: it is resized to ``resized`` and then cropped to ``bucket``.

    ``ar_error`` = bucket aspect ratio - image aspect ratio (sd-scripts reports the mean of its absolute
    value). ``crop_ltrb`` is sd-scripts' ``get_crop_ltrb`` value used for SDXL's crop conditioning (see
    :func:`sdxl_crop_ltrb`); the crop actually applied to the pixels is :func:`crop_for`.
    """

    image_size: Size
    bucket: Size
    resized: Size
    ar_error: float

    @property
    def upscaled(self) -> bool:
        """True when the image is enlarged to fill its bucket (e.g. a 512 px image in a 1024 px bucket)."""
        return self.resized[0] > self.image_size[0] or self.resized[1] > self.image_size[1]

    @property
    def scale(self) -> float:
        return self.resized[0] / self.image_size[0]

    @property
    def usable(self) -> bool:
        """False when the bucket has a zero side (``bucket_no_upscale``, image narrower than a step)."""
        return self.bucket[0] > 0 and self.bucket[1] > 0

    @property
    def crop_ltrb(self) -> tuple[float, float, float, float]:
        return sdxl_crop_ltrb(self.bucket, self.image_size)


class Bucketer:
    """sd-scripts' BucketManager without its mutable bucket lists: ``assign`` is a pure function of the size.

    ``resolution``: an int (square) or (width, height). With ``enable_bucket`` the min/max bucket sizes are
    adjusted and checked as sd-scripts does (:func:`adjust_bucket_reso`, ConfigError on conflict).
    """

    def __init__(
        self,
        resolution: int | Size = (512, 512),
        enable_bucket: bool = True,
        min_bucket_reso: int = 256,
        max_bucket_reso: int = 1024,
        bucket_reso_steps: int = 64,
        bucket_no_upscale: bool = False,
    ):
        if isinstance(resolution, int):
            resolution = (resolution, resolution)
        self.resolution: Size = (int(resolution[0]), int(resolution[1]))
        if min(self.resolution) <= 0:
            raise ConfigError(f"resolution must be positive, not {self.resolution}.")
        self.enable_bucket = bool(enable_bucket)
        self.bucket_reso_steps = bucket_reso_steps
        self.max_area = self.resolution[0] * self.resolution[1]
        if self.enable_bucket:
            self.min_bucket_reso, self.max_bucket_reso = adjust_bucket_reso(
                self.resolution, min_bucket_reso, max_bucket_reso, bucket_reso_steps
            )
            self.bucket_no_upscale = bool(bucket_no_upscale)
            self.resolutions: list[Size] = (
                [] if self.bucket_no_upscale else make_bucket_resolutions(
                    self.resolution, self.min_bucket_reso, self.max_bucket_reso, bucket_reso_steps
                )
            )
        else:
            self.min_bucket_reso = self.max_bucket_reso = None
            self.bucket_no_upscale = False
            self.resolutions = [self.resolution]
        self._reso_set = set(self.resolutions)
        self._ratios = [w / h for w, h in self.resolutions]

    def __repr__(self) -> str:
        return (
            f"Bucketer(resolution={self.resolution}, enable_bucket={self.enable_bucket}, "
            f"min_bucket_reso={self.min_bucket_reso}, max_bucket_reso={self.max_bucket_reso}, "
            f"bucket_reso_steps={self.bucket_reso_steps}, bucket_no_upscale={self.bucket_no_upscale})"
        )

    def _round_to_steps(self, x: float) -> int:
        x = int(x + 0.5)
        return x - x % self.bucket_reso_steps

    def assign(self, image_w: int, image_h: int) -> BucketAssignment:
        """Bucket and resized size of a ``image_w x image_h`` image (the size after EXIF rotation)."""
        if image_w <= 0 or image_h <= 0:
            raise ValueError(f"image size must be positive, not {image_w}x{image_h}")
        ar = image_w / image_h
        if not self.bucket_no_upscale:
            reso = (image_w, image_h)
            if reso not in self._reso_set:
                best = min(range(len(self._ratios)), key=lambda i: abs(self._ratios[i] - ar))
                reso = self.resolutions[best]
            if ar > reso[0] / reso[1]:
                scale = reso[1] / image_h
            else:
                scale = reso[0] / image_w
            resized = (int(image_w * scale + 0.5), int(image_h * scale + 0.5))
        else:
            if image_w * image_h > self.max_area:
                rw = math.sqrt(self.max_area * ar)
                rh = self.max_area / rw
                bw_rounded = self._round_to_steps(rw)
                bh_in_wr = self._round_to_steps(bw_rounded / ar)
                bh_rounded = self._round_to_steps(rh)
                bw_in_hr = self._round_to_steps(bh_rounded * ar)
                # sd-scripts divides here without a guard; a 0 means that choice is useless, so skip it
                ar_w = bw_rounded / bh_in_wr if bh_in_wr else math.inf
                ar_h = bw_in_hr / bh_rounded if bh_rounded else math.inf
                if abs(ar_w - ar) < abs(ar_h - ar):
                    resized = (bw_rounded, int(bw_rounded / ar + 0.5))
                else:
                    resized = (int(bh_rounded * ar + 0.5), bh_rounded)
            else:
                resized = (image_w, image_h)
            s = self.bucket_reso_steps
            reso = (resized[0] - resized[0] % s, resized[1] - resized[1] % s)
        ar_error = reso[0] / reso[1] - ar if reso[1] else math.inf
        return BucketAssignment((image_w, image_h), reso, resized, ar_error)


def crop_for(
    assignment: BucketAssignment, random_crop: bool = False, rng: random.Random | None = None
) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the bucket-sized window cut out of the *resized* image.

    Centred by default (``excess // 2``); with ``random_crop`` the offsets are ``rng.randint(0, excess)``,
    horizontal first. ``rng`` defaults to the ``random`` module (as sd-scripts).
    """
    r = rng if rng is not None else random
    (rw, rh), (bw, bh) = assignment.resized, assignment.bucket
    left = top = 0
    if rw > bw:
        excess = rw - bw
        left = r.randint(0, excess) if random_crop else excess // 2
    if rh > bh:
        excess = rh - bh
        top = r.randint(0, excess) if random_crop else excess // 2
    return left, top, left + bw, top + bh


def sdxl_crop_ltrb(bucket: Size, image_size: Size) -> tuple[float, float, float, float]:
    """sd-scripts' ``BucketManager.get_crop_ltrb``: the box the image would occupy if it were *fitted inside*
    the bucket and centred. SDXL's ``crop_top_left`` conditioning is ``(int(top), int(left))`` of it (or
    ``bucket_w - right`` for the left when flipped). Note that this is not the crop of :func:`crop_for`:
    sd-scripts computes it this way for every image, random crop included."""
    bucket_ar = bucket[0] / bucket[1]
    image_ar = image_size[0] / image_size[1]
    if bucket_ar > image_ar:
        rw, rh = bucket[1] * image_ar, bucket[1]
    else:
        rw, rh = bucket[0], bucket[0] / image_ar
    left = (bucket[0] - rw) // 2
    top = (bucket[1] - rh) // 2
    return left, top, left + rw, top + rh
