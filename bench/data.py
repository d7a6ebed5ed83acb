"""Benchmark photos made on the spot from scikit-image's sample photos (no downloads).

Each photo is a sample upscaled to the requested size with per-image noise and a random crop,
so JPEG sizes and decode costs resemble real camera files (a 12 MP phone JPEG is 3-5 MB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

_SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina")


def _sources() -> list[Image.Image]:
    import skimage.data

    return [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in _SAMPLES]


def make_photos(folder: Path, count: int, size: tuple[int, int], *, seed: int = 0) -> list[Path]:
    """Write ``count`` JPEGs of ``size`` (width, height) into ``folder`` once; reuse them later."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo_{i:05d}.jpg" for i in range(count)]
    if all(p.exists() for p in paths):
        return paths
    rng = np.random.default_rng(seed)
    sources = _sources()
    width, height = size
    for i, path in enumerate(paths):
        if path.exists():
            continue
        src = sources[i % len(sources)]
        zoom = rng.uniform(1.0, 1.3)
        big = src.resize((int(width * zoom), int(height * zoom)), Image.Resampling.BILINEAR)
        left = int(rng.integers(0, big.width - width + 1))
        top = int(rng.integers(0, big.height - height + 1))
        pixels = np.asarray(big.crop((left, top, left + width, top + height)), dtype=np.int16)
        noise = rng.normal(0, 6, size=(height // 4, width // 4, 3))
        noise = np.repeat(np.repeat(noise, 4, axis=0), 4, axis=1)[:height, :width]
        pixels = np.clip(pixels + noise, 0, 255).astype(np.uint8)
        tmp = path.with_suffix(".part")
        Image.fromarray(pixels).save(tmp, "JPEG", quality=92)
        tmp.replace(path)
    return paths
