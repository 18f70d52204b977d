"""The labelled picture of a sample grid (Pillow only): column labels on top, row labels on the left, cells
pasted as the images arrive."""
from __future__ import annotations


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


class GridCanvas:
    """A labelled grid that fills as images arrive (``paste``); ``image`` is the PIL canvas."""

    def __init__(self, rows: list[str], columns: list[str], cell: tuple[int, int]):
        from PIL import Image, ImageDraw

        self.cell = cell
        w, h = cell
        size = max(12, min(24, h // 10))
        self.font = _font(size)
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        text_w = lambda t: probe.textbbox((0, 0), t, font=self.font)[2]  # noqa: E731
        self.left = min(max((text_w(r) for r in rows), default=0) + 2 * size, max(w, 160))
        self.top = 2 * size + 4
        self.image = Image.new("RGB", (self.left + w * len(columns), self.top + h * len(rows)), "white")
        d = ImageDraw.Draw(self.image)
        for j, c in enumerate(columns):
            tw = text_w(c)
            d.text((self.left + j * w + max(2, (w - tw) // 2), size // 2), c, fill="black", font=self.font)
        for i, r in enumerate(rows):
            label = r
            while text_w(label) > self.left - size and len(label) > 4:
                label = label[:-2]
            d.text((size // 2, self.top + i * h + h // 2 - size // 2), label if label == r else label + "…",
                   fill="black", font=self.font)

    def paste(self, row: int, col: int, im) -> None:
        w, h = self.cell
        if im.size != (w, h):
            im = im.resize((w, h))
        self.image.paste(im, (self.left + col * w, self.top + row * h))
