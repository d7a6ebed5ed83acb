"""Choosing the model: the toolbar's choices, the missing-weights dialog, the status line.

Keeps these in step with the controller: what the user picks is loaded on a worker; when
pretrained weights are missing, a (non-modal) dialog offers to pick the file or download again.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel, QWidget

from engine.errors import WeightsNotFoundError
from engine.inference.session import ModelChoice
from engine.models.registry import ARCHITECTURES
from engine.models.weights import find_weights
from gui.controller import Controller
from gui.dialogs.missing_weights import MissingWeightsDialog
from gui.dialogs.prompts import Prompts
from gui.settings import Settings
from gui.widgets.model_bar import ModelBar

DEMO_STYLE = "color: #b71c1c; font-weight: bold;"


class ModelChooser(QObject):
    loaded = Signal()  # a model is in use now
    failed = Signal(str)  # why not, when no dialog already says so

    def __init__(
        self,
        controller: Controller,
        settings: Settings,
        prompts: Prompts,
        bar: ModelBar,
        status: QLabel,
        window: QWidget,
    ) -> None:
        super().__init__(window)
        self.controller = controller
        self.settings = settings
        self.prompts = prompts
        self.bar = bar
        self.status = status
        self.window = window
        self.missing_weights: MissingWeightsDialog | None = None
        self._weights_were_missing = False
        bar.model_chosen.connect(self.load)
        bar.open_model_file.connect(self.open_model_file)
        bar.device_chosen.connect(self._on_device)
        loader = controller.loader
        loader.loading.connect(lambda text: status.setText(f"Loading {text}…"))
        controller.model_loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)
        loader.weights_missing.connect(self._on_weights_missing)
        loader.download_progress.connect(self._on_download)
        loader.cuda_checked.connect(bar.set_cuda_available)
        self.refresh_weights()

    def refresh_weights(self) -> None:
        """Tell the model list which architectures have no weights on this computer."""
        missing = {
            arch
            for arch in ARCHITECTURES
            if self.settings.weights_file(arch) is None and find_weights(arch) is None
        }
        self.bar.set_missing_weights(missing)

    def current_arch(self) -> str:
        choice = self.controller.choice
        return choice.spec if choice is not None and choice.arch else "resnet50"

    @Slot(str)
    def load(self, spec: str, weights: str | None = None, device: str | None = None) -> None:
        if weights is None and spec in ARCHITECTURES:
            weights = self.settings.weights_file(spec)
        choice = self.controller.choice
        device = device or (choice.device if choice is not None else self.settings.device)
        self.bar.set_model(spec)
        self.controller.load_model(ModelChoice(spec, weights=weights, device=device))

    def open_model_file(self) -> None:
        path = self.prompts.open_model_file(self.settings.folder("model"))
        if path:
            self.settings.set_folder("model", Path(path).parent)
            self.load(path)

    @Slot(str)
    def choose_weights(self, arch: str) -> None:
        path = self.prompts.open_weights_file(self.settings.folder("weights"))
        if path:
            self.settings.set_folder("weights", Path(path).parent)
            self.controller.choose_weights(arch, path)

    def _on_device(self, device: str) -> None:
        choice = self.controller.choice
        if choice is not None:
            self.controller.load_model(ModelChoice(choice.spec, choice.weights, device))

    def _on_loaded(self, description: str) -> None:
        choice = self.controller.choice
        demo = choice is not None and choice.is_random
        self.status.setText(("DEMO, random weights: " if demo else "") + description)
        self.status.setStyleSheet(DEMO_STYLE if demo else "")
        if self.missing_weights is not None:
            self.missing_weights.accept()
            self.missing_weights = None
        if choice is not None:
            self.bar.set_model(choice.spec)
            self.bar.set_device(choice.device)
        self.bar.set_recent(self.settings.recent_models)
        self.refresh_weights()
        self.loaded.emit()

    def _on_failed(self, message: str) -> None:
        self.status.setText("No model loaded")
        self.status.setStyleSheet("")
        if self.missing_weights is None:
            self.failed.emit(f"Could not load the model: {message}")
        elif not self._weights_were_missing:
            # e.g. a weights file for another network: say why in the dialog the user is in
            self.missing_weights.show_failure(message)
        self._weights_were_missing = False

    def _on_weights_missing(self, error: WeightsNotFoundError) -> None:
        self._weights_were_missing = True  # the failure that follows is this one
        if self.missing_weights is not None:
            self.missing_weights.show_error(error)
            return
        dialog = MissingWeightsDialog(error, self.window)
        dialog.choose_file.connect(self.choose_weights)
        dialog.retry_download.connect(self.controller.retry_download)
        dialog.finished.connect(self._on_dialog_closed)
        self.missing_weights = dialog
        dialog.show()  # not modal: the user may pick another model meanwhile

    def _on_dialog_closed(self) -> None:
        self.missing_weights = None

    def _on_download(self, received: int, total: int | None) -> None:
        if self.missing_weights is not None:
            self.missing_weights.show_progress(received, total)
