"""Option checks for ``argparse`` ``type=``: a bad value stops the command before any work.

Each function turns the option's text into its value or raises
:class:`argparse.ArgumentTypeError`, which argparse reports as one line naming the option,
with exit status 2, before a model loads.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from engine.inference.results import FORMATS as RESULT_SUFFIXES

MIN_IMAGE_SIZE = 32
"""A ResNet halves its input five times; below 32 px the last stage has nothing left to see."""
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def positive_int(text: str) -> int:
    """An integer of at least 1 (batch sizes, top-k, epochs)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def probability(text: str) -> float:
    """A probability in [0, 1]; a percentage such as 60 gets "did you mean 0.6?"."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if 0.0 <= value <= 1.0:
        return value
    hint = f"; did you mean {value / 100:g}?" if 1.0 < value <= 100.0 else ""
    raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text}{hint}")


def results_path(text: str) -> Path:
    """A results file whose suffix names a format we write."""
    path = Path(text)
    if path.suffix.lower() not in RESULT_SUFFIXES:
        shown = repr(path.suffix) if path.suffix else "no suffix"
        raise argparse.ArgumentTypeError(
            f"unknown results format ({shown}); use a name ending in {', '.join(RESULT_SUFFIXES)}"
        )
    return path


def device(text: str) -> str:
    """auto, cpu, cuda or cuda:N (whether a GPU is there is checked when the model loads)."""
    value = text.strip().lower()
    if not _DEVICE.match(value):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use auto, cpu, cuda or cuda:N")
    return value


def image_size(text: str) -> int:
    """A training image size a ResNet can use (at least :data:`MIN_IMAGE_SIZE` pixels)."""
    value = positive_int(text)
    if value < MIN_IMAGE_SIZE:
        raise argparse.ArgumentTypeError(
            f"{value} px is too small for a ResNet; use {MIN_IMAGE_SIZE} or more"
        )
    return value
