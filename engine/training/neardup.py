"""Near-duplicate images: a difference hash (dHash) and the pairs that nearly match.

A resized, re-encoded or slightly re-exposed copy of an image has a different SHA-256 but
(almost) the same dHash: the signs of the brightness steps between neighbouring cells of a
9x8 grey thumbnail. We take it both ways, across (64 bits) and down (64 bits): one direction
alone cannot tell apart images whose structure runs along it (stripes, edges, text lines).
Pillow and numpy only; no new dependency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from PIL import Image

MAX_DISTANCE = 4
"""Near-duplicates differ in at most this many of the 64 bits of each direction: resizing and
re-encoding typically change 0-4; unrelated images differ in about 32 (and photo patches of
one texture in 6 or more)."""
_BANDS = MAX_DISTANCE + 1  # pigeonhole: two hashes within MAX_DISTANCE agree on a whole band
_HALF = (1 << 64) - 1


def dhash(image: Image.Image) -> int:
    """The 128-bit dHash of ``image`` (any mode, any size): bits 0-63 across, 64-127 down."""
    gray = image.convert("L")
    across = _bits(gray.resize((9, 8), Image.Resampling.BOX))
    down = _bits(gray.transpose(Image.Transpose.TRANSPOSE).resize((9, 8), Image.Resampling.BOX))
    return across | (down << 64)


def _bits(thumb: Image.Image) -> int:
    pixels = np.asarray(thumb, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).reshape(-1)
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def distance(a: int, b: int) -> int:
    """The larger of the two directions' Hamming distances (bits)."""
    x = a ^ b
    return max((x & _HALF).bit_count(), (x >> 64).bit_count())


def near_pairs(hashes: Sequence[int], max_distance: int = MAX_DISTANCE) -> list[tuple[int, int]]:
    """Index pairs (i < j) of hashes whose two directions are each at most ``max_distance``
    bits apart, sorted. Buckets by bands of the across half, so only hashes sharing a band
    are compared (far fewer than all pairs)."""
    width = -(-64 // _BANDS)
    found: set[tuple[int, int]] = set()
    for band in range(_BANDS):
        shift, mask = band * width, (1 << width) - 1
        buckets: dict[int, list[int]] = defaultdict(list)
        for index, value in enumerate(hashes):
            buckets[(value >> shift) & mask].append(index)
        for members in buckets.values():
            for a, i in enumerate(members):
                for j in members[a + 1 :]:
                    if (i, j) not in found and distance(hashes[i], hashes[j]) <= max_distance:
                        found.add((i, j))
    return sorted(found)
