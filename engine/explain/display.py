"""Pictures for an image viewer: a screen-sized copy of a photo and its heat map as layers.

A viewer shows a photo with a Grad-CAM heat map over it at a user-chosen opacity. Re-blending
megapixels on every slider move would be slow, so the heat map is turned once into an RGBA
layer whose alpha is the heat: painting that layer at opacity ``alpha`` over the photo gives
exactly :func:`engine.explain.overlay.blend` (``photo + alpha * heat * (colour - photo)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from engine.explain.overlay import blend, colormap, heatmap_image, save_png
from engine.imaging.decode import load_image

DISPLAY_MAX_SIDE = 2048
"""Longest side of the copy of a photo that the viewer shows and explains, in pixels."""

ViewMode = Literal["image", "overlay", "heatmap"]
VIEW_MODES: tuple[ViewMode, ...] = ("image", "overlay", "heatmap")


def load_display_image(path: str | Path, max_side: int = DISPLAY_MAX_SIDE) -> Image.Image:
    """Decode ``path`` for viewing: RGB, longer side at most ``max_side``, aspect kept.

    Large JPEGs decode in draft mode when that still leaves enough pixels. The
    result has the original's geometry up to scale, so a heat map computed on it (via
    :meth:`engine.runtime.classifier.Classifier.explain`) lines up with the original photo too.

    Raises:
        ImageLoadError: the file cannot be decoded.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    image = load_image(path, min_side=max_side)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def heat_layers(heatmap: np.ndarray, cmap: str = "turbo") -> tuple[np.ndarray, np.ndarray]:
    """float (h, w) heat in [0, 1] -> (uint8 (h, w, 4) RGBA layer, uint8 (h, w, 3) RGB map).

    The RGBA layer carries the colour with alpha = heat, for painting over the photo at the
    overlay opacity; the RGB map is the heat map alone, fully opaque.
    """
    rgb = colormap(heatmap, cmap)
    heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    alpha = np.rint(heat * 255.0).astype(np.uint8)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=2)
    return rgba, rgb


def render_view(
    image: Image.Image, heatmap: np.ndarray, mode: ViewMode, *, alpha: float = 0.5
) -> Image.Image:
    """What the viewer shows in ``mode``: the photo, the blended overlay, or the heat map.

    ``heatmap`` is float (H, W) in [0, 1] with the image's (height, width).
    """
    if mode == "image":
        return image.convert("RGB")
    if mode == "overlay":
        return blend(image, heatmap, alpha=alpha)
    if mode == "heatmap":
        return heatmap_image(heatmap)
    raise ValueError(f"unknown view mode {mode!r}; use one of {', '.join(VIEW_MODES)}")


def save_view(
    source: str | Path,
    heatmap: np.ndarray,
    out: str | Path,
    *,
    mode: ViewMode = "overlay",
    alpha: float = 0.5,
) -> tuple[int, int]:
    """Save the view of ``source`` as a PNG at the photo's full size; return (width, height).

    ``heatmap`` may have been computed on a smaller copy of the photo (as the viewer does):
    it is scaled up bilinearly to the full size first. The file appears atomically.

    Raises:
        ImageLoadError: the photo cannot be decoded any more.
        EngineError: the PNG cannot be written.
    """
    image = load_image(source)
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != (image.height, image.width):
        scaled = Image.fromarray(heat).resize(image.size, Image.Resampling.BILINEAR)
        heat = np.clip(np.asarray(scaled, dtype=np.float32), 0.0, 1.0)
    save_png(render_view(image, heat, mode, alpha=alpha), out)
    return image.size
