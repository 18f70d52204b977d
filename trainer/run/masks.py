"""Masked loss (masked_loss): a per-pixel mask limits what an image teaches, as sd-scripts does it.

Where a mask comes from (per folder, trainer.dataset.mask_files.mask_source decides):

* ``alpha_mask``: the image's transparency (alpha 255 = trained, 0 = ignored); an image without an alpha
  channel counts as fully opaque.
* ``conditioning_data_dir``: a mask image with the training image's file stem (any image extension), directly
  in that folder or in a sub-folder named like the concept folder; its red channel is the mask (white =
  trained), as sd-scripts reads a conditioning image.

The mask goes through the same resize, crop and flip as its image, then (apply_masked_loss, sd-scripts'
library/custom_train_functions.py) is area-averaged down to the latent size and multiplies the per-element
loss before its mean, so a masked-out area adds nothing to the loss or its gradient.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from trainer.dataset.images import ImageReadError
from trainer.dataset.mask_files import mask_source, read_mask_image


def load_mask(item, cfg, top_left: tuple[int, int], flipped: bool) -> torch.Tensor | None:
    """The item's mask cut like its image was (bucket resize, crop at ``top_left`` = (top, left), flip) as a
    [H, W] tensor in 0..1, or None when it has no mask source (trainer.dataset.mask_files.mask_source)."""
    entry, a = item.entry, item.assignment
    source = mask_source(entry, cfg)
    if source is None:
        return None
    kind, path = source
    if kind == "missing":
        raise ImageReadError(entry.path, f"no mask image with the same name was found in {path}")
    mask = read_mask_image(path, "A" if kind == "alpha" else "RGB")
    if mask.size != a.resized:
        mask = mask.resize(a.resized, Image.Resampling.BILINEAR)
    top, left = top_left
    bw, bh = a.bucket
    mask = mask.crop((left, top, left + bw, top + bh))
    if flipped:
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)


def latent_mask(item, cfg, top_left: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """The unflipped mask of an item with a cached latent, area-averaged to the latent ``size`` (h, w) once:
    what apply_masked_loss would make of it at every step. Mirroring it afterwards gives the mirrored image's
    mask, since a bucket's width is a whole number of latent pixels. All ones without a mask source."""
    m = load_mask(item, cfg, top_left, False)
    if m is None:
        return torch.ones(size)
    return F.interpolate(m[None, None], size=size, mode="area")[0, 0]


def apply_masked_loss(loss: torch.Tensor, batch: dict) -> torch.Tensor:
    """loss [B, C, h, w] times the batch's masks area-averaged to h x w (sd-scripts' apply_masked_loss; a
    mask already at h x w, as cached with the latents, stays as it is); unchanged without masks."""
    masks = batch.get("masks")
    if masks is None:
        return loss
    m = masks.to(loss.device, dtype=loss.dtype).unsqueeze(1)
    if m.shape[2:] != loss.shape[2:]:
        m = F.interpolate(m, size=loss.shape[2:], mode="area")
    return loss * m
