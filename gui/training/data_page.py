"""Step 1 of the Train tab: the labelled folder and its health report, as a table.

One row per class (name, number of images, a few thumbnails), then each problem as an icon
and the report's own sentence, which says what to do about it.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.training.session import EXAMPLE_SIDE, ScanDone
from gui.bridge import to_qimage

THUMBS_PER_ROW = 4
THUMB_SIDE = EXAMPLE_SIDE * 3 // 4  # 48 px rows: readable, and 8 classes fit on a laptop


class DataPage(QWidget):
    """``folder_entered(path)`` when the user types a folder and presses Enter."""

    folder_entered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder_edit = QLineEdit(placeholderText="A folder with one subfolder per class")
        self.folder_edit.setToolTip("Type or paste a folder and press Enter, or choose it")
        self.folder_button = QPushButton("Choose Folder…")
        self.summary = QLabel("Pick a folder with one subfolder of images per class.")
        self.summary.setWordWrap(True)
        self.classes = QTableWidget(0, 3)
        self.classes.setHorizontalHeaderLabels(["Class", "Images", "Examples"])
        self.classes.verticalHeader().setVisible(False)
        self.classes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.classes.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.classes.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.classes.verticalHeader().setDefaultSectionSize(THUMB_SIDE + 10)
        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems.setMinimumHeight(60)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, stretch=1)
        row.addWidget(self.folder_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>1. Data</b>: the labelled folder to learn from"))
        layout.addLayout(row)
        layout.addWidget(self.summary)
        layout.addWidget(self.classes, stretch=2)
        layout.addWidget(QLabel("<b>Problems</b>"))
        layout.addWidget(self.problems, stretch=1)
        self.folder_edit.returnPressed.connect(
            lambda: self.folder_entered.emit(self.folder_edit.text().strip())
        )

    def show_checking(self, text: str) -> None:
        self.summary.setText(text)
        self.classes.setRowCount(0)
        self.problems.clear()

    def show_failure(self, message: str) -> None:
        self.show_checking("")
        self._problem("error", message)

    def show_health(self, done: ScanDone) -> None:
        health = done.health
        classes = len(health.class_counts)
        split = " (your train/ and val/ folders define the split)" if health.split_folders else ""
        verdict = "Ready to train." if health.ok else "Fix the errors below before training."
        self.summary.setText(f"{classes} classes, {health.total} images{split}. {verdict}")
        examples = dict(done.examples)
        self.classes.setRowCount(classes)
        for row, (name, count) in enumerate(health.class_counts):
            self.classes.setItem(row, 0, QTableWidgetItem(name))
            number = QTableWidgetItem(f"{count:,}")
            number.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.classes.setItem(row, 1, number)
            self.classes.setCellWidget(row, 2, _thumbnails(examples.get(name, ())))
        self.problems.clear()
        for text in health.errors:
            self._problem("error", text)
        for text in health.warnings:
            self._problem("warning", text)
        if not health.errors and not health.warnings:
            self._problem("ok", "No problems found.")

    def problem_texts(self) -> list[str]:
        return [self.problems.item(i).text() for i in range(self.problems.count())]

    def _problem(self, level: str, text: str) -> None:
        icon = {
            "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
            "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
            "ok": QStyle.StandardPixmap.SP_DialogApplyButton,
        }[level]
        item = QListWidgetItem(self.style().standardIcon(icon), text)
        item.setData(Qt.ItemDataRole.UserRole, level)
        self.problems.addItem(item)


def _thumbnails(thumbs: tuple) -> QWidget:  # type: ignore[type-arg]
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(2, 2, 2, 2)
    side = THUMB_SIDE
    for pixels in thumbs[:THUMBS_PER_ROW]:
        label = QLabel()
        pixmap = QPixmap.fromImage(to_qimage(pixels)).scaled(
            QSize(side, side), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )  # fmt: skip
        label.setPixmap(pixmap)
        layout.addWidget(label)
    layout.addStretch(1)
    return holder
