from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.explain.display import heat_layers, load_display_image, render_view, save_view
from engine.explain.overlay import blend
from tests.conftest import photo


def test_display_image_is_capped_and_keeps_aspect(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    photo(3000, 2000, seed=2).save(path, quality=80)
    image = load_display_image(path, max_side=1000)
    assert image.mode == "RGB"
    assert image.size == (1000, 667) or image.size == (1000, 666)


def test_rgba_layer_painted_at_opacity_equals_blend() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    heatmap = rng.random((20, 30)).astype(np.float32)
    rgba, rgb = heat_layers(heatmap)
    assert rgba.shape == (20, 30, 4) and rgb.shape == (20, 30, 3)
    alpha = 0.6
    # "source over" with item opacity alpha and per-pixel alpha a: p + alpha*a*(c - p)
    pixels = np.asarray(image, dtype=np.float32)
    weight = alpha * rgba[..., 3:].astype(np.float32) / 255.0
    painted = pixels + weight * (rgba[..., :3].astype(np.float32) - pixels)
    expected = np.asarray(blend(image, heatmap, alpha=alpha), dtype=np.float32)
    assert np.abs(painted - expected).max() <= 1.5


def test_render_view_modes() -> None:
    image = photo(30, 20)
    heatmap = np.zeros((20, 30), np.float32)
    assert np.array_equal(np.asarray(render_view(image, heatmap, "image")), np.asarray(image))
    assert np.array_equal(
        np.asarray(render_view(image, heatmap, "overlay", alpha=0.9)), np.asarray(image)
    )
    assert render_view(image, heatmap, "heatmap").size == (30, 20)
    with pytest.raises(ValueError, match="view mode"):
        render_view(image, heatmap, "sepia")  # type: ignore[arg-type]


def test_save_view_scales_a_small_heatmap_to_the_full_photo(tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    photo(400, 300, seed=3).save(source)
    before = source.read_bytes()
    heatmap = np.zeros((75, 100), np.float32)
    heatmap[:, 50:] = 1.0  # right half hot
    out = tmp_path / "out" / "overlay.png"
    assert save_view(source, heatmap, out, mode="heatmap") == (400, 300)
    saved = np.asarray(Image.open(out))
    assert saved.shape == (300, 400, 3)
    assert not np.array_equal(saved[:, 10], saved[:, 390])
    assert source.read_bytes() == before
