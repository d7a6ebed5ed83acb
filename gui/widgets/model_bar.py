"""Toolbar controls: which model, which device, how many classes per image."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from engine.models.registry import ARCHITECTURES

OPEN_FILE = "\x00open"  # item data of "Open model file…"


class ModelBar(QWidget):
    model_chosen = Signal(str)  # an architecture name or a model file path
    open_model_file = Signal()
    device_chosen = Signal(str)  # "cpu" or "cuda"
    top_k_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QComboBox(self)
        self.model.setMinimumContentsLength(16)
        self.model.setToolTip(
            "The network that classifies: a stock architecture or your own model file"
        )
        self.device = QComboBox(self)
        self.device.addItem("CPU", "cpu")
        self.device.setToolTip("Where the network runs (CUDA appears when a usable GPU is found)")
        self.top_k = QSpinBox(self)
        self.top_k.setRange(1, 20)
        self.top_k.setToolTip("Classes listed per image")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for text, widget in (("Model", self.model), ("Device", self.device), ("Top-k", self.top_k)):
            layout.addWidget(QLabel(text))
            layout.addWidget(widget)
            layout.addSpacing(8)
        self._recent: list[str] = []
        self._current = ""
        self._missing: set[str] = set()  # architectures whose weights are not on this computer
        self._fill()
        self.model.activated.connect(self._on_model)
        self.device.activated.connect(lambda i: self.device_chosen.emit(self.device.itemData(i)))
        self.top_k.valueChanged.connect(self.top_k_chosen)

    def _fill(self) -> None:
        self.model.blockSignals(True)
        self.model.clear()
        for arch in ARCHITECTURES.values():
            missing = arch.name in self._missing
            self.model.addItem(
                arch.display_name + (" (no weights yet)" if missing else ""), arch.name
            )
            tip = ("Its ImageNet weights are not on this computer: they are downloaded, or you "
                   "choose the file, when you pick it.") if missing else "Weights on this computer"  # fmt: skip
            self.model.setItemData(self.model.count() - 1, tip, 3)  # tooltip role
        if self._recent:
            self.model.insertSeparator(self.model.count())
            for path in self._recent:
                self.model.addItem(Path(path).name, path)
                self.model.setItemData(self.model.count() - 1, path, 3)  # tooltip role
        self.model.insertSeparator(self.model.count())
        self.model.addItem("Open model file…", OPEN_FILE)
        self.model.blockSignals(False)
        self.set_model(self._current)

    def set_missing_weights(self, archs: set[str]) -> None:
        """Mark the architectures whose pretrained weights are not here yet."""
        if archs != self._missing:
            self._missing = set(archs)
            self._fill()

    def set_recent(self, paths: list[str]) -> None:
        self._recent = list(paths)
        self._fill()

    def set_model(self, spec: str) -> None:
        """Show ``spec`` as the current model (adding a file that is not listed yet)."""
        self._current = spec
        if not spec:
            return
        index = self.model.findData(spec)
        if index < 0:
            self._recent.insert(0, spec)
            self._fill()
            return
        self.model.setCurrentIndex(index)

    def set_device(self, device: str) -> None:
        index = self.device.findData(device)
        self.device.setCurrentIndex(max(0, index))

    def set_cuda_available(self, available: bool) -> None:
        has = self.device.findData("cuda") >= 0
        if available and not has:
            self.device.addItem("CUDA", "cuda")
        elif not available and has:
            self.device.removeItem(self.device.findData("cuda"))

    def _on_model(self, index: int) -> None:
        spec = self.model.itemData(index)
        if spec == OPEN_FILE:
            self.set_model(self._current)  # keep showing the model in use
            self.open_model_file.emit()
        elif spec:
            self.model_chosen.emit(spec)
