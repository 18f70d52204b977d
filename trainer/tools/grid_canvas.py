"""The labelled picture of a sample grid (Pillow only): an optional title line, column labels on top, row labels
on the left (labels may have several lines; each is shortened to fit), cells pasted as the images arrive."""
from __future__ import annotations


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


class GridCanvas:
    """A labelled grid that fills as images arrive (``paste``); ``image`` is the PIL canvas."""

    def __init__(self, rows: list[str], columns: list[str], cell: tuple[int, int], title: str = ""):
        from PIL import Image, ImageDraw

        self.cell = cell
        w, h = cell
        size = max(12, min(24, h // 10))
        self.font = _font(size)
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        text_w = lambda t: probe.textbbox((0, 0), t, font=self.font)[2]  # noqa: E731
        widest = max((text_w(line) for r in rows for line in r.split("\n")), default=0)
        self.left = min(widest + 2 * size, max(w, 160))
        title_h = 2 * size if title else 0
        col_lines = max((c.count("\n") + 1 for c in columns), default=1)
        self.top = title_h + col_lines * (size + 2) + size + 4
        self.image = Image.new("RGB", (self.left + w * len(columns), self.top + h * len(rows)), "white")
        d = ImageDraw.Draw(self.image)

        def fit(text: str, width: int) -> str:
            label = text
            while text_w(label) > width and len(label) > 4:
                label = label[:-2]
            return label if label == text else label + "…"

        if title:
            d.text((size // 2, size // 2), fit(title, self.image.width - size), fill="black", font=self.font)
        for j, c in enumerate(columns):
            for k, line in enumerate(c.split("\n")):
                line = fit(line, w - 4)
                x = self.left + j * w + max(2, (w - text_w(line)) // 2)
                d.text((x, title_h + size // 2 + k * (size + 2)), line, fill="black", font=self.font)
        for i, r in enumerate(rows):
            lines = r.split("\n")
            y = self.top + i * h + h // 2 - (len(lines) * (size + 2)) // 2
            for k, line in enumerate(lines):
                d.text((size // 2, y + k * (size + 2)), fit(line, self.left - size), fill="black", font=self.font)

    def paste(self, row: int, col: int, im) -> None:
        w, h = self.cell
        if im.size != (w, h):
            im = im.resize((w, h))
        self.image.paste(im, (self.left + col * w, self.top + row * h))
