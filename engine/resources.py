"""Where the app's bundled files live: the source tree, or the PyInstaller bundle when frozen."""

from __future__ import annotations

import sys
from pathlib import Path


def assets_dir() -> Path:
    """The ``assets/`` folder (sample photos, icons, bundled weights)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


def bundled_weights_dir() -> Path:
    """Pretrained weights shipped with the app, under torchvision's file names."""
    return assets_dir() / "weights"


def bundled_onnx_dir() -> Path:
    """Verified ONNX copies of the bundled weights (``packaging/build.py`` makes them), found
    before the user's cache so that a packaged app classifies at once on its first start."""
    return assets_dir() / "onnx"


def samples_dir() -> Path:
    return assets_dir() / "samples"
