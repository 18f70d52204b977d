"""Finding mask images for masked_loss (conditioning_data_dir): no torch, so the dataset scan can check that
every image has its mask before a run starts."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import Image

from trainer.errors import DatasetError

from .images import _ORIENTATION_TRANSPOSE, ImageReadError, _header_orientation, _open, is_image_file
from .subsets import option


@lru_cache(maxsize=64)
def _stems(folder: str, stamp: float) -> dict[str, str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return {}
    out: dict[str, str] = {}
    for name in names:
        if is_image_file(name):
            out.setdefault(os.path.splitext(name)[0], os.path.join(folder, name))
    return out


def _listing(folder: Path) -> dict[str, str]:
    try:
        stamp = folder.stat().st_mtime
    except OSError:
        return {}
    return _stems(str(folder), stamp)


def find_mask_file(conditioning_dir, entry) -> Path | None:
    """The mask image of an image entry: the same stem with any image extension, in the sub-folder of
    ``conditioning_dir`` named like the image's concept folder, else directly in ``conditioning_dir``."""
    root = Path(conditioning_dir)
    for folder in (root / entry.concept.folder_name, root):
        hit = _listing(folder).get(entry.path.stem)
        if hit:
            return Path(hit)
    return None


def mask_source(entry, cfg) -> tuple[str, Path] | None:
    """Which mask ``entry`` trains with, the one rule the trainer, the pre-run check and the Dataset page's
    preview follow (a folder's own option first): ("file", mask image) from conditioning_data_dir, read only
    with masked_loss; ("missing", that folder) when it holds no mask for the image (training refuses it);
    ("alpha", the image) with alpha_mask, also without masked_loss as sd-scripts applies it; else None."""
    cond = option(entry.concept, cfg, "conditioning_data_dir") if getattr(cfg, "masked_loss", False) else None
    if cond:
        found = find_mask_file(cond, entry)
        return ("file", found) if found is not None else ("missing", Path(cond))
    if option(entry.concept, cfg, "alpha_mask"):
        return "alpha", Path(entry.path)
    return None


def check_mask_files(scan, cfg) -> None:
    """DatasetError naming the first image that would train without its mask image (:func:`mask_source`)."""
    for c in scan.concepts:
        missing = [(e, src[1]) for e in c.images if (src := mask_source(e, cfg)) and src[0] == "missing"]
        if missing:
            (first, cond), n = missing[0], len(missing)
            raise DatasetError(f"Image '{first.path}' has no mask in {cond} (masked_loss needs a mask image "
                               f"with the same name; {n} image(s) of '{c.folder_name}' lack one).")


def read_mask_image(path: Path, mode: str) -> Image.Image:
    """The mask channel of a whole image: its alpha (``mode`` "A") or its red channel ("RGB"), turned upright by
    its EXIF orientation like its image (the trainer and the Dataset page's preview read masks with it)."""
    try:
        with _open(path) as img:
            orientation = _header_orientation(img)
            img.load()
            if mode == "A":
                has_alpha = "A" in img.getbands() or "transparency" in img.info
                out = img.convert("RGBA").getchannel("A") if has_alpha else Image.new("L", img.size, 255)
            else:
                out = img.convert("RGB").getchannel("R")
    except ImageReadError:
        raise
    except Exception as e:  # noqa: BLE001 - PIL raises many types for damaged data: one sentence naming the file
        raise ImageReadError(path, f"the mask cannot be read ({e})") from None
    transpose = _ORIENTATION_TRANSPOSE.get(orientation)
    return out.transpose(transpose) if transpose is not None else out
