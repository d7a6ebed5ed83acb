"""What the app remembers between runs, over QSettings, with types and defaults in one place.

The app uses the platform's normal location (organisation/application names set in
:mod:`gui.app`); tests pass a QSettings on an INI file in a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from engine.explain.display import VIEW_MODES, ViewMode
from engine.models.registry import ARCHITECTURES, DEFAULT_ARCH

ORGANIZATION = "ResLens"
APPLICATION = "ResLens"
MAX_RECENT_MODELS = 5


class Settings:
    """Typed access to the app's QSettings. Every getter falls back to a sane default."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else QSettings()

    @classmethod
    def at(cls, path: str | Path) -> Settings:
        """Settings stored in one INI file (tests, portable installs)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    def sync(self) -> None:
        self.q.sync()

    def _str(self, key: str, default: str = "") -> str:
        value = self.q.value(key, default)
        return value if isinstance(value, str) else default

    def _int(self, key: str, default: int, low: int, high: int) -> int:
        try:
            value = int(self.q.value(key, default))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return default
        return min(high, max(low, value))

    def _bytes(self, key: str) -> QByteArray | None:
        value = self.q.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    # --- model --------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """An architecture name or the path of a model file."""
        value = self._str("model/spec", DEFAULT_ARCH)
        return value or DEFAULT_ARCH

    @model.setter
    def model(self, value: str) -> None:
        self.q.setValue("model/spec", value)

    @property
    def device(self) -> str:
        value = self._str("model/device", "cpu")
        return value if value in ("cpu", "cuda") else "cpu"

    @device.setter
    def device(self, value: str) -> None:
        self.q.setValue("model/device", value)

    def weights_file(self, arch: str) -> str | None:
        """A weights file the user chose for ``arch`` and that still exists."""
        value = self._str(f"weights/{arch}")
        return value if value and Path(value).is_file() else None

    def set_weights_file(self, arch: str, path: str | None) -> None:
        if path is None:
            self.q.remove(f"weights/{arch}")
        else:
            self.q.setValue(f"weights/{arch}", path)

    @property
    def recent_models(self) -> list[str]:
        value = self.q.value("model/recent", [])
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return [v for v in items if isinstance(v, str) and v not in ARCHITECTURES]

    def add_recent_model(self, path: str) -> None:
        recent = [path, *(p for p in self.recent_models if p != path)]
        self.q.setValue("model/recent", recent[:MAX_RECENT_MODELS])

    # --- view ---------------------------------------------------------------------------

    @property
    def top_k(self) -> int:
        return self._int("view/top_k", 5, 1, 20)

    @top_k.setter
    def top_k(self, value: int) -> None:
        self.q.setValue("view/top_k", int(value))

    @property
    def opacity(self) -> int:
        """Overlay opacity in percent, 0..100."""
        return self._int("view/opacity", 50, 0, 100)

    @opacity.setter
    def opacity(self, value: int) -> None:
        self.q.setValue("view/opacity", int(value))

    @property
    def view_mode(self) -> ViewMode:
        value = self._str("view/mode", "overlay")
        for mode in VIEW_MODES:
            if value == mode:
                return mode
        return "overlay"

    @view_mode.setter
    def view_mode(self, value: ViewMode) -> None:
        self.q.setValue("view/mode", value)

    # --- window and folders -------------------------------------------------------------

    @property
    def geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry")

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.q.setValue("window/geometry", value)

    @property
    def splitter(self) -> QByteArray | None:
        return self._bytes("window/splitter")

    @splitter.setter
    def splitter(self, value: QByteArray) -> None:
        self.q.setValue("window/splitter", value)

    def folder(self, purpose: str) -> str:
        """The folder last used to ``purpose`` ("open", "export", "sort", "model", ...)."""
        value = self._str(f"folders/{purpose}")
        return value if value and Path(value).is_dir() else str(Path.home())

    def set_folder(self, purpose: str, folder: str | Path) -> None:
        self.q.setValue(f"folders/{purpose}", str(folder))

    # --- training -----------------------------------------------------------------------

    @property
    def train_folder(self) -> str:
        return self._str("train/folder")

    @train_folder.setter
    def train_folder(self, value: str) -> None:
        self.q.setValue("train/folder", value)

    @property
    def train_epochs(self) -> int | None:
        value = self._int("train/epochs", 0, 0, 500)
        return value or None

    @train_epochs.setter
    def train_epochs(self, value: int) -> None:
        self.q.setValue("train/epochs", int(value))

    @property
    def train_image_size(self) -> int | None:
        value = self._int("train/image_size", 0, 0, 1024)
        return value or None

    @train_image_size.setter
    def train_image_size(self, value: int) -> None:
        self.q.setValue("train/image_size", int(value))

    @property
    def cam_scope(self) -> str:
        """Which Grad-CAM the inspector shows: "crop" (what the network saw) or "whole"."""
        value = self._str("view/cam_scope", "crop")
        return value if value in ("crop", "whole") else "crop"

    @cam_scope.setter
    def cam_scope(self, value: str) -> None:
        self.q.setValue("view/cam_scope", value)
