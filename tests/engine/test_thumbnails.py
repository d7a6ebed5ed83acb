from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import ImageLoadError
from engine.imaging.thumbnails import LruCache, make_thumbnail
from tests.conftest import photo


def test_thumbnail_keeps_aspect_and_fits_the_box(tmp_path: Path) -> None:
    path = tmp_path / "wide.jpg"
    photo(1600, 900, seed=1).save(path, quality=85)
    pixels = make_thumbnail(path, 128)
    assert pixels.dtype == np.uint8
    assert pixels.shape == (72, 128, 3)


def test_small_image_is_not_enlarged(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    photo(40, 30).save(path)
    assert make_thumbnail(path, 128).shape == (30, 40, 3)


def test_broken_file_raises_image_load_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 nope")
    with pytest.raises(ImageLoadError):
        make_thumbnail(path)


def test_lru_cache_forgets_the_least_recently_used() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the oldest
    cache.put("c", 3)
    assert "b" not in cache
    assert cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_lru_cache_bounds_total_cost() -> None:
    cache: LruCache[int, bytes] = LruCache(100, max_cost=10, cost=len)
    for i in range(5):
        cache.put(i, b"xxxx")
    assert cache.total_cost <= 10
    assert list(k for k in range(5) if k in cache) == [3, 4]
    cache.pop(4)
    assert cache.total_cost == 4
    cache.clear()
    assert len(cache) == 0 and cache.total_cost == 0


def test_lru_cache_keeps_a_single_oversized_entry() -> None:
    cache: LruCache[int, bytes] = LruCache(5, max_cost=3, cost=len)
    cache.put(1, b"too big")
    assert cache.get(1) == b"too big"
    cache.put(2, b"x")
    assert 1 not in cache and cache.get(2) == b"x"
