"""The file and folder pickers the window uses, behind one small class.

Tests replace it with one that answers from a list (a native file dialog cannot be driven
offscreen); everything after the answer runs for real.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QWidget

IMAGE_FILTER = (
    "Images (*.jpg *.jpeg *.jpe *.png *.bmp *.gif *.tif *.tiff *.webp *.dcm *.dicom);;All files (*)"
)
RESULTS_FILTER = "CSV (*.csv);;JSON Lines (*.jsonl);;JSON (*.json)"
MODEL_FILTER = "Models (*.reslens *.onnx);;All files (*)"
WEIGHTS_FILTER = "PyTorch weights (*.pth *.pt *.safetensors *.bin);;All files (*)"


class Prompts:
    """Ask the user for paths; each method returns None (or []) when they cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent

    def open_files(self, start: str) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(self.parent, "Open Images", start, IMAGE_FILTER)
        return list(paths)

    def open_folder(self, start: str) -> str | None:
        return QFileDialog.getExistingDirectory(self.parent, "Open Folder", start) or None

    def choose_folder(self, title: str, start: str) -> str | None:
        return QFileDialog.getExistingDirectory(self.parent, title, start) or None

    def save_results(self, start: str) -> str | None:
        path, chosen = QFileDialog.getSaveFileName(
            self.parent, "Export Results", f"{start}/results.csv", RESULTS_FILTER
        )
        if path and "." not in path.rsplit("/", 1)[-1]:
            path += ".jsonl" if "Lines" in chosen else ".json" if "JSON" in chosen else ".csv"
        return path or None

    def save_png(self, start: str, name: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(
            self.parent, "Save View as PNG", f"{start}/{name}", "PNG image (*.png)"
        )
        if path and not path.lower().endswith(".png"):
            path += ".png"
        return path or None

    def open_model_file(self, start: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open Model File", start, MODEL_FILTER)
        return path or None

    def open_weights_file(self, start: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(
            self.parent, "Choose Weights File", start, WEIGHTS_FILTER
        )
        return path or None
