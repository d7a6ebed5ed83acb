"""Help > About: the version, the model and device in use, and the library versions."""

from __future__ import annotations

import importlib.metadata as md
import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

LIBRARIES = ("torch", "torchvision", "onnxruntime-gpu", "onnxruntime", "numpy", "pillow", "pydicom")


def version_of(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def library_versions() -> list[tuple[str, str]]:
    """(name, version) of the libraries that matter, read from metadata (nothing imported)."""
    rows = [("Python", platform.python_version()), ("PySide6", pyside_version), ("Qt", qVersion())]
    for dist in LIBRARIES:
        version = version_of(dist)
        if version is not None:
            rows.append((dist, version))
    return rows


class AboutDialog(QDialog):
    def __init__(self, model: str, device: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About ResLens")
        title = QLabel(f"<h2>ResLens {version_of('reslens') or ''}</h2>")
        blurb = QLabel(
            "Classify images with residual networks, see what they looked at (Grad-CAM), "
            "sort and export results, fine-tune on your own images."
        )
        blurb.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Model:", QLabel(model))
        form.addRow("Device:", QLabel(device))
        for name, version in library_versions():
            form.addRow(f"{name}:", QLabel(version))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(blurb)
        layout.addLayout(form)
        layout.addWidget(buttons)
