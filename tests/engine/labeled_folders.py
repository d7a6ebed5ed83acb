"""Generated class-per-folder data sets that a small network learns in a few epochs.

Each class has its own hue and stripe direction (horizontal, vertical, checks), with random
period, phase, brightness and noise, so classes are learnable but no two images are equal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES: dict[str, tuple[int, int, int]] = {
    "checks": (60, 80, 200),
    "horizontal": (200, 60, 60),
    "vertical": (60, 170, 60),
}


def pattern(kind: str, size: int, rng: np.random.Generator, *, gray: bool = False) -> np.ndarray:
    """uint8 (size, size, 3) image of class ``kind``."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    period, phase = rng.uniform(5, 9), rng.uniform(0, 2 * np.pi)
    wave_y = np.sin(2 * np.pi * y / period + phase)
    wave_x = np.sin(2 * np.pi * x / period + phase)
    wave = {"horizontal": wave_y, "vertical": wave_x}.get(kind, wave_x * wave_y)
    mask = (wave > 0).astype(np.float32)[..., None]
    bright = np.asarray(CLASSES[kind], dtype=np.float32) + rng.normal(0, 20, 3)
    if gray:
        bright = np.full(3, bright.mean())
    pixels = mask * bright + (1 - mask) * bright * rng.uniform(0.3, 0.6)
    noise = rng.normal(0, 10, (size, size, 1 if gray else 3))
    return np.clip(pixels + noise, 0, 255).astype(np.uint8)


def make_labeled_folder(
    root: Path,
    *,
    per_class: int = 24,
    size: int = 40,
    seed: int = 0,
    classes: tuple[str, ...] = tuple(CLASSES),
) -> Path:
    """Write ``root/<class>/<class>_NNN.png`` for each class; return ``root``."""
    rng = np.random.default_rng(seed)
    for kind in classes:
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(pattern(kind, size, rng)).save(folder / f"{kind}_{i:03d}.png")
    return root


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its content, to prove nothing was modified."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
