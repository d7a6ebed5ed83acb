"""The training settings form: basic choices in view, advanced ones folded away."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.models.registry import ARCHITECTURES
from engine.training.records import TrainConfig

IMAGE_SIZES = (32, 64, 96, 128, 160, 224)


class TrainingOptions(QWidget):
    """Architecture, epochs, image size and start weights; batch size, learning rate,
    validation share, seed, imbalance handling, patience and device under "Advanced"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        defaults = TrainConfig()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._basic(defaults))
        self.toggle = QToolButton()
        self.toggle.setText("Advanced")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.toggled.connect(self._fold)
        row = QHBoxLayout()
        row.addWidget(self.toggle)
        row.addStretch(1)
        layout.addLayout(row)
        self.advanced = self._advanced(defaults)
        self.advanced.setVisible(False)
        layout.addWidget(self.advanced)

    def _basic(self, defaults: TrainConfig) -> QFormLayout:
        self.arch = QComboBox()
        for spec in ARCHITECTURES.values():
            self.arch.addItem(spec.display_name, spec.name)
        self.arch.setCurrentIndex(self.arch.findData(defaults.arch))
        self.epochs = _spin(1, 500, defaults.epochs)
        self.image_size = QComboBox()
        for size in IMAGE_SIZES:
            self.image_size.addItem(f"{size} px", size)
        self.image_size.setCurrentIndex(self.image_size.findData(defaults.image_size))
        self.image_size.setToolTip("Smaller trains much faster; 64-128 px suits small images.")
        self.pretrained = QCheckBox("Start from ImageNet weights when available")
        self.pretrained.setChecked(True)
        self.pretrained.setToolTip(
            "Fine-tuning pretrained weights needs far fewer images. Without them on this "
            "computer, the network trains from scratch."
        )
        form = QFormLayout()
        form.addRow("Architecture", self.arch)
        form.addRow("Epochs", self.epochs)
        form.addRow("Image size", self.image_size)
        form.addRow("", self.pretrained)
        return form

    def _advanced(self, defaults: TrainConfig) -> QWidget:
        self.batch_size = _spin(2, 512, defaults.batch_size)
        self.lr = QDoubleSpinBox(decimals=5, minimum=0.0, maximum=1.0, singleStep=1e-4)
        self.lr.setSpecialValueText("automatic")
        self.lr.setValue(0.0)
        self.val_fraction = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=0.5, singleStep=0.05)
        self.val_fraction.setValue(defaults.val_fraction)
        self.seed = _spin(0, 2**31 - 1, defaults.seed)
        self.balance = _combo(
            ("weight rare classes up", "loss"),
            ("sample classes equally", "sampler"),
            ("none", "none"),
        )
        self.patience = _spin(0, 100, defaults.patience)
        self.patience.setSpecialValueText("never stop early")
        self.device = _combo(("auto", "auto"), ("cpu", "cpu"), ("cuda", "cuda"))
        panel = QWidget()
        form = QFormLayout(panel)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Learning rate", self.lr)
        form.addRow("Validation share", self.val_fraction)
        form.addRow("Seed", self.seed)
        form.addRow("Class imbalance", self.balance)
        form.addRow("Early stopping after", self.patience)
        form.addRow("Device", self.device)
        return panel

    def _fold(self, open_: bool) -> None:
        self.advanced.setVisible(open_)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)

    def config(self) -> TrainConfig:
        """The settings as the engine takes them (``ValueError`` if they do not fit)."""
        return TrainConfig(
            arch=str(self.arch.currentData()),
            epochs=self.epochs.value(),
            image_size=int(self.image_size.currentData()),
            batch_size=self.batch_size.value(),
            lr=self.lr.value() or None,
            pretrained=None if self.pretrained.isChecked() else False,
            balance=self.balance.currentData(),
            patience=self.patience.value(),
            val_fraction=self.val_fraction.value(),
            seed=self.seed.value(),
            device=str(self.device.currentData()),
        )

    def set_image_size(self, size: int) -> None:
        index = self.image_size.findData(size)
        if index < 0:
            self.image_size.addItem(f"{size} px", size)
            index = self.image_size.count() - 1
        self.image_size.setCurrentIndex(index)


def _combo(*items: tuple[str, str]) -> QComboBox:
    combo = QComboBox()
    for label, value in items:
        combo.addItem(label, value)
    return combo


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox(minimum=low, maximum=high)
    spin.setValue(value)
    return spin
