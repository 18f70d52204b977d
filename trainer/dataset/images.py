"""Reading image files: which files are images, their trained size, and their pixels as 8-bit RGB.

Choices (documented because they differ from a plain ``Image.open(p).convert("RGB")``, which is what
sd-scripts does):

* EXIF orientation is applied, so a phone photo is trained upright (sd-scripts ignores it and trains it
  sideways). :func:`image_size` reports the size after rotation, so buckets match the pixels.
  Only EXIF found in the file header is used (for PNG: an ``eXIf`` chunk before the image data), so
  :func:`image_size` never has to decode pixels and both functions always agree.
* Transparency (RGBA, LA, palette with a transparent colour) is composited onto white, as an image
  viewer shows it. ``convert("RGB")`` would instead expose whatever colour the invisible pixels happen to
  store (often black). Pass ``background=None`` to get sd-scripts' behaviour.
* 16-bit and 32-bit integer images (``I;16``, ``I``) are scaled down to 8 bits. Pillow's own conversion
  clips every value above 255, which turns a normal 16-bit grayscale PNG almost white.
* CMYK and grayscale go through Pillow's conversion.
* ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is never changed: a truncated file is an error, not a grey band.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from trainer.errors import DatasetError



def is_huge(width: int, height: int) -> bool:
    """Above Pillow's warning limit (about 89 megapixels): decoded whole every time, slow and memory hungry."""
    return Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS

#: Image file extensions a training folder may hold (compare lower-cased; see :func:`is_image_file`).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})

_EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transposition that makes the image upright (as PIL.ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageReadError(DatasetError):
    """An image file that cannot be decoded. ``path`` and ``reason`` are kept for reports."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"Cannot read image '{self.path}': {reason}.")


def is_image_file(name: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTENSIONS` (any letter case)."""
    return os.path.splitext(os.fspath(name))[1].lower() in IMAGE_EXTENSIONS


def _looks_like_text(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:  # a multi-byte character cut by the 512-byte window is still text
        if e.start < len(head) - 4:
            return False
    return True


def _open(path: Path) -> Image.Image:
    """Image.open with every failure turned into an ImageReadError with a readable reason."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageReadError(path, "the file does not exist") from None
    except OSError as e:
        raise ImageReadError(path, f"the file cannot be accessed ({e.strerror or e})") from e
    if size == 0:
        raise ImageReadError(path, "the file is empty (0 bytes)")
    try:
        # Pillow warns on stderr (file, line, its own wording) for images above MAX_IMAGE_PIXELS; the bucket
        # report says it in our words instead (trainer.dataset.plan, ProblemKind.LARGE_IMAGE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except UnidentifiedImageError:
        if _looks_like_text(path):
            reason = "it is not an image, the file contains text"
        else:
            reason = "it is not an image in a format that can be read (PNG, JPEG, WebP, BMP)"
        raise ImageReadError(path, reason) from None
    except Image.DecompressionBombError as e:
        raise ImageReadError(path, f"the image is too large to open safely ({e})") from None
    except OSError as e:
        raise ImageReadError(path, f"the file cannot be opened ({e})") from e
    except Exception as e:  # plugins raise assorted errors (SyntaxError, struct.error...) on bad headers
        raise ImageReadError(path, f"its header is damaged ({e or type(e).__name__})") from None


def _header_orientation(img: Image.Image) -> int:
    """EXIF orientation (1..8) from the file header only; 1 when absent or unreadable.

    Must be called before ``img.load()``: for PNG, Pillow's ``getexif`` would otherwise decode the whole
    image to look for an ``eXIf`` chunk after the pixel data.
    """
    if img.format == "PNG" and "exif" not in img.info:
        return 1
    try:
        value = img.getexif().get(_EXIF_ORIENTATION_TAG, 1)
        value = int(value)
    except Exception:  # broken EXIF must not make a readable image unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as trained, i.e. after EXIF rotation; reads the header only (fast).

    Raises :class:`ImageReadError` for empty files and files that are not images. A truncated file may
    still report a size here; :func:`open_image_rgb` finds it.
    """
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        if _header_orientation(img) in (5, 6, 7, 8):
            w, h = h, w
    return w, h


def _to_8bit_rgb(img: Image.Image, background: tuple[int, int, int] | None) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        import numpy as np  # only for 16-bit images: a starting window does not pay numpy's import

        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            scale = 65535.0
        else:  # "I" (32-bit) and "F": older Pillow opens 16-bit PNGs as "I"; plain 8-bit data stays as is
            peak = float(arr.max()) if arr.size else 0.0
            scale = 1.0 if mode == "F" and peak <= 1.0 else (65535.0 if peak > 255 else 255.0)
        arr = np.clip(np.rint(arr * (255.0 / scale)), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB", "1") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        if background is None:
            return rgba.convert("RGB")
        canvas = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return img.convert("RGB")


def open_image_rgb(
    path: str | os.PathLike, *, background: tuple[int, int, int] | None = (255, 255, 255)
) -> Image.Image:
    """Decode the whole file and return an upright 8-bit RGB image (detached from the file).

    ``background``: colour transparent pixels are composited onto; ``None`` drops the alpha channel
    the way ``convert("RGB")`` (and sd-scripts) does. Raises :class:`ImageReadError` for empty, truncated,
    damaged or non-image files.
    """
    path = Path(path)
    with _open(path) as img:
        orientation = _header_orientation(img)
        try:
            img.load()
        except Image.DecompressionBombError as e:
            raise ImageReadError(path, f"the image is too large to open safely ({e})") from None
        except Exception as e:  # OSError, SyntaxError, EOFError, struct.error, ... from damaged data
            text = str(e)
            if "truncated" in text or isinstance(e, EOFError):
                reason = f"the file is truncated or damaged ({text or 'unexpected end of file'})"
            else:
                reason = f"the image data is damaged ({text or type(e).__name__})"
            raise ImageReadError(path, reason) from None
        try:
            rgb = _to_8bit_rgb(img, background)
        except (OSError, ValueError) as e:
            reason = f"its colour mode {img.mode} cannot be converted to RGB ({e})"
            raise ImageReadError(path, reason) from None
        if rgb is img:
            rgb = img.copy()
    transpose = _ORIENTATION_TRANSPOSE.get(orientation)
    if transpose is not None:
        rgb = rgb.transpose(transpose)
    return rgb
