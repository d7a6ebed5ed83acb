"""Chart pieces shared by the reports (font, colours) and the calibration and ROC pictures:
Pillow images, no plotting library."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

TRAIN_COLOR = (31, 119, 180)
VAL_COLOR = (255, 127, 14)

_INK, _GRID, _WHITE = (40, 40, 40), (225, 225, 225), (255, 255, 255)


@lru_cache(maxsize=4)
def chart_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _frame(
    title: str, x_label: str, y_label: str, size: tuple[int, int]
) -> tuple[Image.Image, ImageDraw.ImageDraw, tuple[int, int, int, int]]:
    """A blank unit-square chart: the image, its drawer and the plot box (l, t, r, b)."""
    width, height = size
    image = Image.new("RGB", size, _WHITE)
    draw = ImageDraw.Draw(image)
    box = (44, 28, width - 14, height - 36)
    left, top, right, bottom = box
    small = chart_font(12)
    draw.text((8, 6), title, fill=_INK, font=small)
    for k in range(5):
        v = k / 4
        x, y = left + (right - left) * v, bottom - (bottom - top) * v
        draw.line([(left, y), (right, y)], fill=_GRID)
        draw.line([(x, top), (x, bottom)], fill=_GRID)
        draw.text((6, y - 7), f"{v:.2f}", fill=_INK, font=small)
        draw.text((x - 10, bottom + 4), f"{v:.2f}", fill=_INK, font=small)
    draw.rectangle(box, outline=_INK)
    draw.line([(left, bottom), (right, top)], fill=(170, 170, 170), width=1)  # the ideal / chance
    draw.text((left, height - 16), f"{x_label}; up: {y_label}", fill=_INK, font=small)
    return image, draw, box


def _at(box: tuple[int, int, int, int], x: float, y: float) -> tuple[float, float]:
    left, top, right, bottom = box
    return left + (right - left) * x, bottom - (bottom - top) * y


def reliability_image(
    before: Sequence[tuple[float, float, int]],
    after: Sequence[tuple[float, float, int]],
    *,
    size: tuple[int, int] = (360, 320),
) -> Image.Image:
    """Reliability diagram: accuracy against confidence per bin, before and after temperature
    scaling (a perfectly calibrated model lies on the diagonal); marker area ~ bin count."""
    image, draw, box = _frame("reliability", "confidence", "accuracy", size)
    total = max(1, sum(n for _, _, n in after) or sum(n for _, _, n in before))
    for label, bins, color, x in (
        ("before", before, TRAIN_COLOR, 0),
        ("after calibration", after, VAL_COLOR, 1),
    ):
        points = [_at(box, c, a) for c, a, _ in bins]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for (px, py), (_, _, n) in zip(points, bins, strict=True):
            r = 2 + 6 * (n / total) ** 0.5
            draw.ellipse([px - r, py - r, px + r, py + r], fill=color)
        legend = (box[0] + 8 + 110 * x, box[1] + 6)
        draw.line([legend, (legend[0] + 14, legend[1])], fill=color, width=3)
        draw.text((legend[0] + 18, legend[1] - 7), label, fill=_INK, font=chart_font(12))
    return image


def roc_image(
    points: Sequence[tuple[float, float]],
    *,
    positive: str,
    auc: float | None,
    size: tuple[int, int] = (360, 320),
) -> Image.Image:
    """The ROC curve (true-positive rate against false-positive rate) for ``positive``."""
    auc_text = f", AUC {auc:.3f}" if auc is not None and auc == auc else ""
    title = f"ROC, positive class {positive!r}{auc_text}"
    image, draw, box = _frame(title, "false-positive rate", "true-positive rate", size)
    line = [_at(box, f, t) for f, t in points]
    if len(line) > 1:
        draw.line(line, fill=VAL_COLOR, width=2)
    return image
