"""Errors a user can cause, each with a message that says what to do.

Programmer mistakes raise ``TypeError``/``ValueError``; everything a user can cause
(a broken file, missing weights, an unusable data set) raises an :class:`EngineError`
subclass whose message is fit to show in a dialog or on one line of a terminal.
"""

from __future__ import annotations

from pathlib import Path


class EngineError(Exception):
    """Base class of every error the engine reports to a user."""


class ImageLoadError(EngineError):
    """An image file could not be read or decoded."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelLoadError(EngineError):
    """A model or its weights could not be built or loaded."""


class WeightsNotFoundError(ModelLoadError):
    """Pretrained weights are neither bundled, cached, given nor downloadable."""

    def __init__(self, arch: str, filename: str, folder: Path, url: str, reason: str) -> None:
        self.arch = arch
        self.filename = filename
        self.folder = Path(folder)
        self.url = url
        self.reason = reason
        super().__init__(
            f"Pretrained weights for {arch} are missing ({reason}). "
            f"Download {url} and put it in {self.folder} as {filename}, "
            "or choose the weights file yourself."
        )


class DatasetError(EngineError):
    """A labeled folder cannot be used for training as it is."""


class ExportError(EngineError):
    """A model could not be exported, or the export failed its parity check."""


class Cancelled(EngineError):
    """A long job stopped because the user asked it to."""
