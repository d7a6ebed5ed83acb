"""The file and folder pickers the window uses, behind one small class.

Tests replace it with one that answers from a list (a native file dialog cannot be driven
offscreen); everything after the answer runs for real.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

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

    def ask_wait(self, question: str) -> str | None:
        """ "wait", "now" or None (cancel) before exporting or sorting with images waiting."""
        box = QMessageBox(
            QMessageBox.Icon.Question, "Images Still Waiting", question, parent=self.parent
        )
        wait = box.addButton("Wait for Them", QMessageBox.ButtonRole.AcceptRole)
        now = box.addButton("Go On Without Them", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(wait)
        box.exec()
        clicked = box.clickedButton()
        return "wait" if clicked is wait else "now" if clicked is now else None

    def confirm_clear(self, rows: int) -> bool:
        answer = QMessageBox.question(
            self.parent,
            "Clear the List",
            f"Remove all {rows:,} files from the list? Their results are not saved unless "
            "you exported them. The files themselves stay where they are.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def ask_close(self, classified: int, waiting: int) -> str | None:
        """ "save", "close" or None (stay open) when closing during a batch."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Classification Still Running",
            f"{classified:,} images are classified and {waiting:,} still waiting. Save the "
            "results so far before closing?",
            parent=self.parent,
        )
        save = box.addButton("Save Results…", QMessageBox.ButtonRole.AcceptRole)
        close = box.addButton("Close Without Saving", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(save)
        box.exec()
        clicked = box.clickedButton()
        return "save" if clicked is save else "close" if clicked is close else None
