"""Help > About: the version, the model and device in use, the library versions, and the
third-party licences (the *Licences…* button)."""

from __future__ import annotations

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.versions import installed_version, versions
from gui.dialogs.licences import LicencesDialog

LIBRARIES = ("torch", "torchvision", "onnxruntime-gpu", "onnxruntime", "numpy", "pillow", "pydicom")


def library_versions() -> list[tuple[str, str]]:
    """(name, version) of the libraries that matter, read from metadata (nothing imported)."""
    found = versions(LIBRARIES)
    rows = [("Python", found.pop("python")), ("PySide6", pyside_version), ("Qt", qVersion())]
    return rows + list(found.items())


class AboutDialog(QDialog):
    def __init__(self, model: str, device: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About ResLens")
        title = QLabel(f"<h2>ResLens {installed_version('reslens') or ''}</h2>")
        blurb = QLabel(
            "Classify images with residual networks, see what they looked at (Grad-CAM), "
            "sort and export results, fine-tune on your own images. "
            "Licensed under the BSD 3-Clause License."
        )
        blurb.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Model:", QLabel(model))
        form.addRow("Device:", QLabel(device))
        for name, version in library_versions():
            form.addRow(f"{name}:", QLabel(version))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.licences_button = QPushButton("Licences…")
        buttons.addButton(self.licences_button, QDialogButtonBox.ButtonRole.HelpRole)
        self.licences_button.clicked.connect(self.show_licences)
        buttons.rejected.connect(self.reject)
        self.licences: LicencesDialog | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(blurb)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def show_licences(self) -> None:
        """Open the third-party licences (made once, kept for this dialog's life)."""
        if self.licences is None:
            self.licences = LicencesDialog(self)
        self.licences.open()
