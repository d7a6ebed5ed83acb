"""Colour heat maps and blend them over photos (numpy + Pillow only).

Example::

    overlay = blend(image, heatmap_to_image(result.heatmap, crop_box, image.size))
    save_png(overlay, "explained.png")
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import atomic_open
from engine.errors import EngineError

__all__ = ["COLORMAPS", "blend", "colormap", "heatmap_image", "save_png"]

# Polynomial fit of Google's Turbo colormap (Anton Mikhailov's design; degree-5 fit
# published by Ruofei Du with it): rows are r, g, b; columns the coefficients of x**0..x**5.
_TURBO_COEFFS = np.array(
    [
        [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
        [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
        [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ]
)


def _turbo(x: np.ndarray) -> np.ndarray:
    """float64 (n,) in [0, 1] -> float64 (n, 3) RGB in [0, 1]."""
    powers = x[:, None] ** np.arange(6)
    rgb: np.ndarray = powers @ _TURBO_COEFFS.T
    return rgb


def _jet(x: np.ndarray) -> np.ndarray:
    """Classic MATLAB jet, piecewise linear: dark blue, blue, cyan, yellow, red, dark red."""
    return np.stack([1.5 - np.abs(4.0 * x - c) for c in (3.0, 2.0, 1.0)], axis=1)


_COLOUR_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "turbo": _turbo,
    "jet": _jet,
}
COLORMAPS: tuple[str, ...] = tuple(_COLOUR_FUNCTIONS)
_LUTS: dict[str, np.ndarray] = {}


def _lut(name: str) -> np.ndarray:
    """256-entry uint8 (256, 3) lookup table for colormap `name`, computed once."""
    if name not in _COLOUR_FUNCTIONS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    if name not in _LUTS:
        rgb = _COLOUR_FUNCTIONS[name](np.linspace(0.0, 1.0, 256))
        _LUTS[name] = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    return _LUTS[name]


def _as_heatmap(heatmap: np.ndarray) -> np.ndarray:
    """Validate a heat map: finite real (h, w). Returns float32, values clipped to [0, 1]."""
    heat = np.asarray(heatmap)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be (h, w), got shape {heat.shape}")
    if not np.issubdtype(heat.dtype, np.number) or np.iscomplexobj(heat):
        raise ValueError(f"heatmap must be real numbers, got {heat.dtype}")
    heat = heat.astype(np.float32, copy=False)
    if not np.isfinite(heat).all():
        raise ValueError("heatmap contains NaN or infinite values")
    clipped: np.ndarray = np.clip(heat, 0.0, 1.0)
    return clipped


def colormap(heatmap: np.ndarray, name: str = "turbo") -> np.ndarray:
    """Colour a heat map.

    Args:
        heatmap: float (h, w); values are clipped to [0, 1].
        name: "turbo" (0 near-black blue/violet, 1 dark red) or "jet" (0 dark blue,
            1 dark red).

    Returns:
        uint8 (h, w, 3) RGB.

    Raises:
        ValueError: unknown name, or a heat map that is not a finite (h, w) array.
    """
    lut = _lut(name)
    heat = _as_heatmap(heatmap)
    return lut[np.rint(heat * 255.0).astype(np.intp)]


def heatmap_image(heatmap: np.ndarray, cmap: str = "turbo") -> Image.Image:
    """The heat map alone as an RGB image of size (w, h) for a float (h, w) heat map."""
    return Image.fromarray(colormap(heatmap, cmap), mode="RGB")


def blend(
    image: Image.Image, heatmap: np.ndarray, *, alpha: float = 0.5, cmap: str = "turbo"
) -> Image.Image:
    """Overlay a coloured heat map on a photo.

    The colour's weight at each pixel is ``alpha * heat``: hot regions are tinted up to
    `alpha`, cold regions (heat 0) show the photo unchanged, and ``alpha=0`` returns the
    photo's pixels exactly.

    Args:
        image: the photo, size (W, H); converted to RGB if it is in another mode.
        heatmap: float (H, W) in [0, 1] (clipped), same geometry as the image, e.g. from
            :func:`engine.explain.cam.heatmap_to_image`.
        alpha: peak opacity of the colour, in [0, 1].
        cmap: a name from :data:`COLORMAPS`.

    Returns:
        RGB image of size (W, H).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    heat = _as_heatmap(heatmap)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if heat.shape != (rgb.height, rgb.width):
        raise ValueError(
            f"heatmap shape {heat.shape} does not match the image's (height, width) "
            f"{(rgb.height, rgb.width)}"
        )
    if alpha == 0.0:
        return rgb.copy()
    pixels = np.asarray(rgb, dtype=np.float32)
    mixed = colormap(heat, cmap).astype(np.float32)
    # In place, to keep a 12 MP photo at about two float copies of memory.
    mixed -= pixels
    mixed *= (alpha * heat)[..., None]
    mixed += pixels
    np.rint(mixed, out=mixed)
    np.clip(mixed, 0.0, 255.0, out=mixed)
    return Image.fromarray(mixed.astype(np.uint8), mode="RGB")


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> None:
    """Write `image` as PNG at `path` atomically (see :func:`engine.atomic.atomic_open`).

    Readers see the old file or the whole new one, never half; no temporary file is
    left behind, also on failure.

    Raises:
        EngineError: the file could not be written (permissions, disk full, ...).
    """
    target = Path(path)
    try:
        with atomic_open(target, "wb") as handle:
            image.save(handle, format="PNG")
    except OSError as exc:
        raise EngineError(f"Could not save {target}: {exc.strerror or exc}") from exc
