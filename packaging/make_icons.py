"""Draw the app icon: resources/icons/lora_desk.svg (by hand, same geometry) and the PNG/ICO made from it
with Pillow (no SVG renderer needed).  Run from the repository root:  python packaging/make_icons.py

The picture: a rounded indigo tile, a big white "L" and, beside it, two thin bars -- the two small matrices
(down, up) of a low-rank adapter.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "resources" / "icons"
S = 256  # design grid
BG_TOP, BG_BOTTOM = (92, 70, 214), (52, 36, 140)
WHITE, ACCENT = (255, 255, 255), (255, 196, 84)
RADIUS = 56
L_SHAPE = [(60, 48), (104, 48), (104, 164), (196, 164), (196, 208), (60, 208)]  # the "L"
BARS = [(128, 48, 196, 72), (172, 48, 196, 140)]  # down (wide, flat) and up (tall, narrow)


def svg() -> str:
    pts = " ".join(f"{x},{y}" for x, y in L_SHAPE)
    bars = "\n".join(f'  <rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="6" fill="#ffc454"/>'
                     for x0, y0, x1, y1 in BARS)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{S}" height="{S}" viewBox="0 0 {S} {S}">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#{''.join(f'{c:02x}' for c in BG_TOP)}"/>
      <stop offset="1" stop-color="#{''.join(f'{c:02x}' for c in BG_BOTTOM)}"/>
    </linearGradient>
  </defs>
  <rect x="8" y="8" width="{S - 16}" height="{S - 16}" rx="{RADIUS}" fill="url(#bg)"/>
  <polygon points="{pts}" fill="#ffffff"/>
{bars}
</svg>
"""


def render(size: int) -> Image.Image:
    k = 4 * size / S  # draw at 4x and shrink: smooth edges without an SVG renderer
    big = int(4 * size)
    grad = Image.new("RGBA", (big, big))
    d = ImageDraw.Draw(grad)
    for y in range(big):
        t = y / max(big - 1, 1)
        d.line([(0, y), (big, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(BG_TOP, BG_BOTTOM)) + (255,))
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle([8 * k, 8 * k, (S - 8) * k, (S - 8) * k], radius=RADIUS * k, fill=255)
    im = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    im.paste(grad, (0, 0), mask)
    d = ImageDraw.Draw(im)
    d.polygon([(x * k, y * k) for x, y in L_SHAPE], fill=WHITE + (255,))
    for x0, y0, x1, y1 in BARS:
        d.rounded_rectangle([x0 * k, y0 * k, x1 * k, y1 * k], radius=6 * k, fill=ACCENT + (255,))
    return im.resize((size, size), Image.LANCZOS)


def main(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / "lora_desk.svg").write_text(svg(), encoding="utf-8")
    big = render(256)
    big.save(out / "lora_desk.png")
    render(48).save(out / "lora_desk_48.png")
    big.save(out / "lora_desk.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    print(f"wrote {out}/lora_desk.svg, .png, _48.png, .ico")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
