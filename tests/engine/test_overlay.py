"""Colour maps, blending and atomic PNG saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import EngineError
from engine.explain.overlay import COLORMAPS, blend, colormap, heatmap_image, save_png


@pytest.fixture
def photo() -> Image.Image:
    """A 40 x 30 (W x H) RGB image with varied pixels."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), mode="RGB")


def _ramp(height: int = 30, width: int = 40) -> np.ndarray:
    """float32 (height, width): 0 at the left edge rising to 1 at the right."""
    return np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))


@pytest.mark.parametrize("name", COLORMAPS)
def test_colormap_shape_dtype_and_endpoints(name: str) -> None:
    colours = colormap(np.array([[0.0, 0.1, 1.0]]), name).astype(int)
    assert colours.shape == (1, 3, 3)
    assert colormap(np.zeros((2, 3)), name).dtype == np.uint8
    cold, cool, hot = colours[0]
    assert cold.max() <= 140, "0 is a dark colour"
    assert cool[2] > cool[0] + 80 and cool[2] > cool[1], "the cold end is blue"
    assert hot[0] > hot[1] + 80 and hot[0] > hot[2] + 80, "the hot end is red"


def test_jet_is_the_classic_blue_to_red() -> None:
    colours = colormap(np.array([[0.0, 0.5, 1.0]]), "jet")[0].astype(int)
    # 256 levels: 0.5 lands on level 128, a hair past the middle.
    expected = [[0, 0, 128], [128, 255, 128], [128, 0, 0]]
    np.testing.assert_allclose(colours, expected, atol=3)


def test_turbo_passes_through_green_and_is_clipped() -> None:
    middle = colormap(np.array([[0.5]]), "turbo")[0, 0].astype(int)
    assert middle[1] > 200 and middle[1] > middle[0] and middle[1] > middle[2]
    clipped = colormap(np.array([[-3.0, 7.0]]), "turbo")
    np.testing.assert_array_equal(clipped, colormap(np.array([[0.0, 1.0]]), "turbo"))


def test_colormap_rejects_unknown_names_and_bad_heatmaps() -> None:
    with pytest.raises(ValueError, match="unknown colormap"):
        colormap(np.zeros((2, 2)), "viridis")
    with pytest.raises(ValueError, match="NaN"):
        colormap(np.array([[np.nan]]))
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        colormap(np.zeros((2, 2, 1)))


def test_alpha_zero_returns_the_original_pixels(photo: Image.Image) -> None:
    out = blend(photo, _ramp(), alpha=0.0)
    assert out is not photo
    np.testing.assert_array_equal(np.asarray(out), np.asarray(photo))


def test_zero_heat_keeps_the_photo(photo: Image.Image) -> None:
    out = blend(photo, np.zeros((30, 40), dtype=np.float32), alpha=0.8)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(photo))


def test_full_heat_and_alpha_one_shows_the_colours(photo: Image.Image) -> None:
    heat = _ramp()
    heat[:, -1] = 1.0
    out = np.asarray(blend(photo, heat, alpha=1.0, cmap="jet"))
    np.testing.assert_array_equal(out[:, -1], colormap(heat, "jet")[:, -1])


def test_blend_mixes_linearly_with_heat_times_alpha(photo: Image.Image) -> None:
    heat = np.full((30, 40), 0.5, dtype=np.float32)
    out = np.asarray(blend(photo, heat, alpha=0.6)).astype(np.float32)
    pixels = np.asarray(photo).astype(np.float32)
    colours = colormap(heat).astype(np.float32)
    expected = pixels + 0.3 * (colours - pixels)
    assert np.abs(out - expected).max() <= 0.5 + 1e-3


def test_blend_keeps_size_and_converts_modes() -> None:
    grey = Image.new("L", (40, 30), 100)
    out = blend(grey, _ramp(), alpha=0.5)
    assert out.mode == "RGB" and out.size == (40, 30)
    assert np.asarray(out)[:, 0].tolist() == [[100, 100, 100]] * 30  # heat 0: the photo


def test_blend_rejects_bad_alpha_and_geometry(photo: Image.Image) -> None:
    for alpha in (-0.1, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            blend(photo, _ramp(), alpha=alpha)
    with pytest.raises(ValueError, match="does not match"):
        blend(photo, _ramp(40, 30))


def test_heatmap_image_is_the_colormap() -> None:
    image = heatmap_image(_ramp(), cmap="jet")
    assert image.mode == "RGB" and image.size == (40, 30)
    np.testing.assert_array_equal(np.asarray(image), colormap(_ramp(), "jet"))


def test_save_png_is_atomic_and_reopenable(photo: Image.Image, tmp_path: Path) -> None:
    target = tmp_path / "overlay.png"
    target.write_bytes(b"old")
    save_png(photo, target)
    assert [p.name for p in tmp_path.iterdir()] == ["overlay.png"]
    with Image.open(target) as reopened:
        assert reopened.format == "PNG"
        np.testing.assert_array_equal(np.asarray(reopened.convert("RGB")), np.asarray(photo))


def test_save_png_failure_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "overlay.png"
    target.write_bytes(b"old")
    with pytest.raises(EngineError, match="Could not save"):
        save_png(Image.new("CMYK", (4, 4)), target)  # PNG cannot hold CMYK
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["overlay.png"]
