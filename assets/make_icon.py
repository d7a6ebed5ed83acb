"""Draw the ResLens app icon and write it in every size the packagers need.

Run from the repository root: ``.venv/bin/python assets/make_icon.py``. Writes
``assets/icons/reslens-{16..512}.png``, ``reslens.ico`` (Windows) and ``reslens.icns`` (macOS).
The design: a magnifying lens over a warm Grad-CAM-like glow on a deep blue rounded square,
with three top-k bars beside the handle. Drawn at 1024 px and scaled down, so every size is
antialiased; the small sizes drop the bars, which would only be noise there.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
BASE = 1024
NAVY, BLUE = (20, 42, 92), (38, 99, 196)
GLOW = ((255, 214, 64), (255, 120, 40), (220, 40, 60))
WHITE = (250, 250, 252)


def _background(size: int) -> Image.Image:
    """A rounded square with a vertical navy-to-blue gradient; RGBA (size, size)."""
    gradient = Image.linear_gradient("L").resize((size, size))
    top, bottom = Image.new("RGB", (size, size), BLUE), Image.new("RGB", (size, size), NAVY)
    fill = Image.composite(bottom, top, gradient).convert("RGBA")
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=255)
    fill.putalpha(mask)
    return fill


def _glow(size: int, centre: tuple[int, int], radius: int) -> Image.Image:
    """Concentric warm discs blurred into a heat-map blob; RGBA (size, size)."""
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx, cy = centre
    for scale, colour in zip((1.0, 0.68, 0.38), GLOW[::-1], strict=True):
        r = int(radius * scale)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*colour, 235))
    return layer.filter(ImageFilter.GaussianBlur(radius / 5))


def draw_icon(size: int = BASE, *, bars: bool = True) -> Image.Image:
    """The icon as an RGBA image of ``size`` x ``size``."""
    s = size / BASE
    icon = _background(size)
    lens_c, lens_r = (int(430 * s), int(420 * s)), int(250 * s)
    lens = Image.new("L", (size, size), 0)
    ImageDraw.Draw(lens).ellipse(
        (lens_c[0] - lens_r, lens_c[1] - lens_r, lens_c[0] + lens_r, lens_c[1] + lens_r), fill=255
    )
    inside = Image.new("RGBA", (size, size), (255, 255, 255, 40))
    inside.alpha_composite(_glow(size, (int(470 * s), int(390 * s)), int(175 * s)))
    icon.paste(inside, (0, 0), Image.composite(inside, Image.new("RGBA", inside.size), lens))
    draw = ImageDraw.Draw(icon)
    ring = max(2, int(52 * s))
    box = (lens_c[0] - lens_r, lens_c[1] - lens_r, lens_c[0] + lens_r, lens_c[1] + lens_r)
    draw.ellipse(box, outline=WHITE, width=ring)
    handle = max(3, int(92 * s))
    draw.line((int(620 * s), int(610 * s), int(850 * s), int(840 * s)), fill=WHITE, width=handle)
    end_x, end_y, half = int(850 * s), int(840 * s), handle // 2
    draw.ellipse((end_x - half, end_y - half, end_x + half, end_y + half), fill=WHITE)
    if bars:
        for i, length in enumerate((230, 155, 90)):
            y = int((190 + i * 95) * s)
            draw.rounded_rectangle(
                (int(710 * s), y, int((710 + length) * s) - 1, y + int(55 * s)),
                radius=int(22 * s),
                fill=(*GLOW[i], 255) if i == 0 else (*WHITE, 200 - 60 * i),
            )
    return icon


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    big = draw_icon(BASE)
    plain = draw_icon(BASE, bars=False)
    images = {}
    for size in SIZES:
        source = big if size >= 64 else plain
        images[size] = source.resize((size, size), Image.Resampling.LANCZOS)
        images[size].save(OUT / f"reslens-{size}.png", optimize=True)
    images[256].save(OUT / "reslens.ico", sizes=[(n, n) for n in SIZES if n <= 256])
    big.resize((512, 512), Image.Resampling.LANCZOS).save(OUT / "reslens.icns")
    print(f"wrote {len(SIZES)} PNGs, reslens.ico and reslens.icns to {OUT}")


if __name__ == "__main__":
    main()
