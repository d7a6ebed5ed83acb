"""Whether a native library (the NVIDIA driver, TensorRT) can be loaded on this machine."""

from __future__ import annotations

import ctypes
from collections.abc import Iterable


def loads_any(names: Iterable[str]) -> bool:
    """True when one of these shared libraries loads here (by name, as the loader finds it)."""
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False
