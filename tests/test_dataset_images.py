"""trainer.dataset.images: decoding awkward files to upright 8-bit RGB, and clear errors for broken ones."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageFile

from trainer.dataset.images import IMAGE_EXTENSIONS, ImageReadError, image_size, is_image_file, open_image_rgb
from trainer.errors import DatasetError


def _pattern(w, h):
    """An RGB image whose left half is red and right half blue (so rotations are visible)."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    arr[:, w // 2 :] = (0, 0, 255)
    return Image.fromarray(arr)


def test_extensions_case_insensitive():
    assert IMAGE_EXTENSIONS == {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
    for name in ("a.PNG", "b.Jpg", "c.jpeg", "d.WebP", "e.bmp"):
        assert is_image_file(name)
    for name in ("a.txt", "b.gif", "c.npz", "png"):
        assert not is_image_file(name)


def test_plain_rgb_round_trip(tmp_path):
    p = tmp_path / "a.png"
    _pattern(40, 20).save(p)
    img = open_image_rgb(p)
    assert img.mode == "RGB" and img.size == (40, 20)
    assert image_size(p) == (40, 20)
    assert img.getpixel((0, 0)) == (255, 0, 0)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty") as e:
        open_image_rgb(p)
    assert isinstance(e.value, DatasetError)
    assert e.value.path == p and "empty.png" in str(e.value)
    with pytest.raises(ImageReadError, match="empty"):
        image_size(p)


@pytest.mark.parametrize("fmt,ext", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_file(tmp_path, fmt, ext):
    p = tmp_path / f"cut{ext}"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(p, fmt)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert image_size(p) == (128, 128)  # header is intact: the fast path cannot know
    with pytest.raises(ImageReadError, match="truncated|damaged") as e:
        open_image_rgb(p)
    assert "cut" + ext in str(e.value)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_text_saved_as_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("1girl, solo, smile\n", encoding="utf-8")
    with pytest.raises(ImageReadError, match="contains text"):
        open_image_rgb(p)
    with pytest.raises(ImageReadError, match="not an image"):
        image_size(p)


def test_random_bytes_named_jpg(tmp_path):
    p = tmp_path / "junk.jpg"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ImageReadError, match="not an image"):
        open_image_rgb(p)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist"):
        open_image_rgb(tmp_path / "gone.png")


def test_cmyk_jpeg(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 16), (0, 255, 255, 0)).save(p, quality=95)  # pure red in CMYK
    assert Image.open(p).mode == "CMYK"
    img = open_image_rgb(p)
    assert img.mode == "RGB" and img.size == (32, 16)
    r, g, b = img.getpixel((16, 8))
    assert r > 200 and g < 60 and b < 60


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    p = tmp_path / "deep.png"
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    Image.fromarray(ramp).save(p)
    assert Image.open(p).mode in ("I;16", "I")
    img = open_image_rgb(p)
    arr = np.asarray(img)
    assert img.mode == "RGB" and arr.shape == (8, 64, 3)
    assert arr[0, 0, 0] == 0 and arr[0, -1, 0] == 255
    assert abs(int(arr[0, 32, 0]) - 130) <= 2  # mid-grey stays mid-grey (Pillow's convert would give 255)
    # monotonic ramp, not a wall of white
    assert (np.diff(arr[0, :, 0].astype(int)) >= 0).all() and (arr[0, :, 0] < 255).sum() > 50


def test_palette_with_transparency_on_white(tmp_path):
    p = tmp_path / "pal.png"
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))  # index 0 black (transparent), 1 red
    img.paste(1, (0, 0, 5, 10))
    img.info["transparency"] = 0
    img.save(p, transparency=0)
    out = open_image_rgb(p)
    assert out.mode == "RGB"
    assert out.getpixel((1, 1)) == (255, 0, 0)
    assert out.getpixel((8, 8)) == (255, 255, 255)  # transparent -> white, not black
    assert open_image_rgb(p, background=None).getpixel((8, 8)) == (0, 0, 0)  # sd-scripts' convert("RGB")


def test_rgba_and_la_composited(tmp_path):
    p = tmp_path / "rgba.png"
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 200
    arr[:, :2, 3] = 255  # left opaque, right fully transparent
    Image.fromarray(arr, "RGBA").save(p)
    out = open_image_rgb(p)
    assert out.getpixel((0, 0)) == (200, 0, 0) and out.getpixel((3, 0)) == (255, 255, 255)
    q = tmp_path / "la.png"
    Image.new("LA", (4, 4), (10, 0)).save(q)
    assert open_image_rgb(q).getpixel((0, 0)) == (255, 255, 255)
    assert open_image_rgb(q, background=(0, 0, 0)).getpixel((0, 0)) == (0, 0, 0)


def test_grayscale_and_bitonal(tmp_path):
    p = tmp_path / "g.bmp"
    Image.new("L", (5, 3), 77).save(p)
    assert open_image_rgb(p).getpixel((0, 0)) == (77, 77, 77)
    q = tmp_path / "b.png"
    Image.new("1", (5, 3), 1).save(q)
    assert open_image_rgb(q).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("orientation,expected_size,left_colour", [
    (1, (40, 20), (255, 0, 0)),
    (6, (20, 40), None),  # rotated 90 degrees clockwise for display
    (8, (20, 40), None),
    (3, (40, 20), (0, 0, 255)),  # rotated 180: blue now on the left
])
def test_exif_orientation(tmp_path, orientation, expected_size, left_colour):
    p = tmp_path / f"phone_{orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    _pattern(40, 20).save(p, exif=exif.tobytes(), quality=95)
    assert image_size(p) == expected_size
    img = open_image_rgb(p)
    assert img.size == expected_size
    if left_colour:
        r, g, b = img.getpixel((2, 10))
        assert (r > 200, b > 200) == (left_colour[0] > 200, left_colour[2] > 200)
    if orientation == 6:  # red (image left) goes to the top
        r, _, b = img.getpixel((10, 2))
        assert r > 200 and b < 60


def test_exif_orientation_in_png_and_webp(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    for ext in ("png", "webp"):
        p = tmp_path / f"rot.{ext}"
        _pattern(40, 20).save(p, exif=exif.tobytes())
        assert image_size(p) == (20, 40)
        assert open_image_rgb(p).size == (20, 40)


def test_image_size_does_not_decode(tmp_path, monkeypatch):
    p = tmp_path / "a.png"
    _pattern(30, 10).save(p)

    def boom(self):
        raise AssertionError("image_size must not decode pixels")

    monkeypatch.setattr(Image.Image, "load", boom)
    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    assert image_size(p) == (30, 10)


def test_no_heavy_imports():
    code = (
        "import sys, trainer.dataset, trainer.dataset.hygiene;"
        "bad=[m for m in ('torch','PySide6','diffusers','transformers') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
