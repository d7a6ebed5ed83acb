"""Small previews of image files, and a bounded least-recently-used cache to keep them in.

A folder of 5,000 photos must scroll smoothly without holding 5,000 decoded images: a viewer
decodes previews lazily (only for what is on screen) with :func:`make_thumbnail`, which uses
JPEG draft decoding, and keeps the recent ones in an :class:`LruCache` with a fixed capacity.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
from PIL import Image

from engine.imaging.decode import load_image

THUMBNAIL_SIZE = 128
"""Default longest side of a thumbnail, in pixels."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def make_thumbnail(path: str | Path, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Decode ``path`` into a preview whose longer side is at most ``size`` pixels.

    Returns uint8 (h, w, 3) RGB, aspect ratio kept, never enlarged. Large JPEGs decode at
    1/2..1/8 scale first (draft mode), so a 12 MP photo costs a few milliseconds.

    Raises:
        ImageLoadError: the file cannot be decoded (see :func:`engine.imaging.decode.load_image`).
        ValueError: ``size`` is not positive.
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    image = load_image(path, min_side=size)
    image.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.uint8)


class LruCache(Generic[K, V]):
    """A mapping that forgets its least recently used entries beyond a capacity.

    ``max_items`` bounds the number of entries; ``max_cost`` (optional) bounds the sum of
    ``cost(value)`` (e.g. bytes). Not thread-safe: use it from one thread.
    """

    def __init__(
        self,
        max_items: int,
        *,
        max_cost: int | None = None,
        cost: Callable[[V], int] | None = None,
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        if (max_cost is None) != (cost is None):
            raise ValueError("max_cost and cost go together")
        self.max_items = max_items
        self.max_cost = max_cost
        self._cost = cost
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.total_cost = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V) -> None:
        """Store ``value``; evict the least recently used entries until within capacity."""
        self.pop(key)
        cost = self._cost(value) if self._cost is not None else 0
        self._entries[key] = (value, cost)
        self.total_cost += cost
        while len(self._entries) > 1 and self._over_capacity():
            _, (_, old_cost) = self._entries.popitem(last=False)
            self.total_cost -= old_cost

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self.total_cost -= entry[1]
        return entry[0]

    def clear(self) -> None:
        self._entries.clear()
        self.total_cost = 0

    def _over_capacity(self) -> bool:
        if len(self._entries) > self.max_items:
            return True
        return self.max_cost is not None and self.total_cost > self.max_cost
