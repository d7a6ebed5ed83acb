"""The main window: builds the widgets and wires them to the controller. No logic of its own."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.explain.display import VIEW_MODES
from gui.actions import build_menus, build_toolbar, create_actions
from gui.controller import Controller
from gui.dialogs.about import AboutDialog
from gui.dialogs.model_info import ModelInfoDialog
from gui.dialogs.prompts import Prompts
from gui.dialogs.sort_copies import SortCopiesDialog
from gui.model_chooser import ModelChooser
from gui.notices import Notice
from gui.options import StartOptions
from gui.results_model import Role, RowState
from gui.settings import Settings
from gui.widgets.drop import paths_from_mime
from gui.widgets.inspector import Inspector
from gui.widgets.message_bar import MessageBar
from gui.widgets.model_bar import ModelBar
from gui.widgets.progress_panel import ProgressPanel
from gui.widgets.results_view import ResultsView

if TYPE_CHECKING:
    from gui.training.tab import TrainingTab

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings,
        *,
        prompts: Prompts | None = None,
        options: StartOptions | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("ResLens")
        self.settings = settings
        self.prompts = prompts or Prompts(self)
        self.options = options or StartOptions()
        self.controller = Controller(settings, self)
        self.commands = create_actions(self)
        self.model_bar = ModelBar(self)
        self.results_view = ResultsView(self)
        self.results_view.setModel(self.controller.results)
        self.inspector = Inspector(self)
        self.messages = MessageBar(self)
        self.progress = ProgressPanel(self)
        self.model_status = QLabel("No model loaded")
        self.files_status = QLabel("")
        self.models = ModelChooser(
            self.controller, settings, self.prompts, self.model_bar, self.model_status, self
        )
        self._build()
        self._connect()
        self._restore()
        self.setAcceptDrops(True)

    def _build(self) -> None:
        build_menus(self.menuBar(), self.commands)
        build_toolbar(self.addToolBar("Main"), self.commands, self.model_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.results_view)
        self.splitter.addWidget(self.inspector)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        classify = QWidget(self)
        layout = QVBoxLayout(classify)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.messages)
        layout.addWidget(self.splitter, stretch=1)
        layout.addWidget(self.progress)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(classify, "Classify")
        self.training_tab: TrainingTab | None = None
        self.train_holder = QWidget(self)
        QVBoxLayout(self.train_holder).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(self.train_holder, "Train")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.setCentralWidget(self.tabs)
        self.statusBar().addWidget(self.files_status)
        self.statusBar().addPermanentWidget(self.model_status)

    def _connect(self) -> None:
        a, c = self.commands, self.controller
        a.open_files.triggered.connect(self._open_files)
        a.open_folder.triggered.connect(self._open_folder)
        a.paste_paths.triggered.connect(self._paste)
        a.export.triggered.connect(self._export)
        a.sort_copies.triggered.connect(self._sort_copies)
        a.save_view.triggered.connect(self._save_view)
        a.clear.triggered.connect(self._clear)
        a.quit.triggered.connect(self.close)
        a.cancel.triggered.connect(c.cancel)
        a.classify_waiting.triggered.connect(c.classify_waiting)
        a.open_model.triggered.connect(self.models.open_model_file)
        a.choose_weights.triggered.connect(
            lambda: self.models.choose_weights(self.models.current_arch())
        )
        a.about.triggered.connect(self._about)
        a.model_info.triggered.connect(self._model_info)
        self.models.loaded.connect(self._explain_current)
        self.models.failed.connect(lambda text: self._on_notice(Notice("error", text)))
        self.model_bar.top_k_chosen.connect(self._on_top_k)
        c.activity_changed.connect(self._on_activity)
        c.notice.connect(self._on_notice)
        c.files_changed.connect(self._on_files_changed)
        self.results_view.selectionModel().currentChanged.connect(self._on_current)
        c.explainer.image_ready.connect(self.inspector.show_image)
        c.explainer.explained.connect(self.inspector.show_explanation)
        c.explainer.failed.connect(lambda text: self.inspector.show_error(None, text))
        c.explainer.unexplained.connect(self.inspector.show_status)
        self.inspector.class_chosen.connect(self._on_class_chosen)
        self.inspector.mode_changed.connect(self._on_mode)
        self.inspector.opacity_changed.connect(self._on_opacity)
        self.inspector.save_requested.connect(self._save_view)
        self.inspector.viewer.navigate.connect(self._step)
        self.progress.cancel_requested.connect(c.cancel)

    def _restore(self) -> None:
        s = self.settings
        if s.geometry is not None:
            self.restoreGeometry(s.geometry)
        else:
            self.resize(1280, 820)
        if s.splitter is not None:
            self.splitter.restoreState(s.splitter)
        else:
            self.splitter.setSizes([700, 560])
        mode = self.options.mode if self.options.mode in VIEW_MODES else s.view_mode
        self.inspector.set_mode(mode)  # type: ignore[arg-type]
        self.inspector.set_opacity(s.opacity)
        self.model_bar.top_k.setValue(s.top_k)
        self.model_bar.set_recent(s.recent_models)
        self.model_bar.set_device(s.device)
        self._on_files_changed()

    def start(self) -> None:
        """After the window is shown: load the model (importing torch), open given paths."""
        o, s = self.options, self.settings
        spec = o.model or s.model
        weights = o.weights if o.weights is not None else s.weights_file(spec)
        self.models.load(spec, weights=weights, device=o.device or s.device)
        if o.paths:
            self.controller.add_paths(list(o.paths))

    # --- files ----------------------------------------------------------------------------

    def _open_files(self) -> None:
        paths = self.prompts.open_files(self.settings.folder("open"))
        if paths:
            self.settings.set_folder("open", Path(paths[0]).parent)
            self.controller.add_paths(paths)

    def _open_folder(self) -> None:
        folder = self.prompts.open_folder(self.settings.folder("open"))
        if folder:
            self.settings.set_folder("open", Path(folder).parent)
            self.controller.add_paths([folder])

    def _paste(self) -> None:
        paths = paths_from_mime(QGuiApplication.clipboard().mimeData())
        if paths:
            self.controller.add_paths(paths)
        else:
            self._on_notice(Notice("warning", "The clipboard holds no paths of files or folders."))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragEnterEvent) -> None:  # type: ignore[override]
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = paths_from_mime(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.controller.add_paths(paths)

    def _clear(self) -> None:
        self.controller.clear()
        self.controller.explainer.clear()
        self.inspector.clear()

    def _on_files_changed(self) -> None:
        has_rows = self.controller.results.rowCount() > 0
        for action in (self.commands.export, self.commands.sort_copies, self.commands.clear):
            action.setEnabled(has_rows)
        self._update_counts()
        select = self.options.select
        if has_rows and not self.results_view.currentIndex().isValid():
            row = (
                select if select is not None and select < self.controller.results.rowCount() else 0
            )
            self._select(row)

    def _update_counts(self) -> None:
        counts = self.controller.results.counts()
        parts = [f"{counts[RowState.CLASSIFIED]:,} classified"]
        if counts[RowState.WAITING]:
            parts.append(f"{counts[RowState.WAITING]:,} waiting")
        if counts[RowState.FAILED]:
            parts.append(f"{counts[RowState.FAILED]:,} failed")
        if counts[RowState.SKIPPED]:
            parts.append(f"{counts[RowState.SKIPPED]:,} skipped")
        self.files_status.setText(" · ".join(parts) if sum(counts.values()) else "")
        idle = not self.commands.cancel.isEnabled() and self.controller.classifier is not None
        self.commands.classify_waiting.setEnabled(idle and counts[RowState.WAITING] > 0)

    # --- selection and explanation --------------------------------------------------------

    def _select(self, row: int) -> None:
        index = self.controller.results.index(row)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.results_view.selectionModel().setCurrentIndex(index, flags)
        self.results_view.scrollTo(index)

    def _step(self, delta: int) -> None:
        count = self.controller.results.rowCount()
        if count:
            current = self.results_view.currentIndex().row()
            self._select(min(count - 1, max(0, current + delta)))

    def _on_current(self, index: QModelIndex, _previous: QModelIndex | None = None) -> None:
        if not index.isValid():
            return
        path: Path = index.data(Role.PATH)
        state: RowState = index.data(Role.STATE)
        if state in (RowState.SKIPPED, RowState.FAILED):
            self.controller.explainer.clear()
            self.inspector.show_error(path, str(index.data(Role.SUMMARY)))
            return
        self.inspector.show_loading(path)
        self.controller.explainer.show(path, None, self.controller.top_k)

    def _explain_current(self) -> None:
        index = self.results_view.currentIndex()
        if index.isValid():
            self._on_current(index)

    def _on_class_chosen(self, class_index: int) -> None:
        path = self.controller.explainer.path
        if path is not None:
            self.controller.explainer.show(path, class_index, self.controller.top_k)

    def _on_mode(self, mode: str) -> None:
        self.settings.view_mode = mode  # type: ignore[assignment]

    def _on_opacity(self, percent: int) -> None:
        self.settings.opacity = percent

    def _on_top_k(self, value: int) -> None:
        self.controller.set_top_k(value)
        self._explain_current()

    # --- export, sort, save ---------------------------------------------------------------

    def _export(self) -> None:
        path = self.prompts.save_results(self.settings.folder("export"))
        if path:
            self.controller.export(Path(path))

    def _sort_copies(self) -> None:
        dialog = SortCopiesDialog(
            self.controller.results.results(include_skipped=False),
            self.controller.sources,
            self.settings.folder("sort") if self.settings.q.contains("folders/sort") else "",
            lambda start: self.prompts.choose_folder("Sort Copies into…", start),
            self,
        )
        dialog.accepted.connect(lambda: self._start_sort(dialog))
        self.sort_dialog = dialog
        dialog.open()

    def _start_sort(self, dialog: SortCopiesDialog) -> None:
        plan = dialog.plan()
        if plan is not None:
            self.controller.sort_copies(plan)

    def _save_view(self) -> None:
        view = self.controller.explainer.current
        if view is None:
            self._on_notice(Notice("warning", "Select an image and wait for its heat map first."))
            return
        name = f"{view.path.stem}-{self.inspector.viewer.mode}.png"
        path = self.prompts.save_png(self.settings.folder("overlay"), name)
        if path:
            alpha = self.inspector.opacity.value() / 100
            self.controller.save_overlay(Path(path), self.inspector.viewer.mode, alpha)

    # --- the rest -------------------------------------------------------------------------

    def _on_activity(self, activity: object) -> None:
        self.progress.show_activity(activity)  # type: ignore[arg-type]
        self.commands.cancel.setEnabled(activity is not None)
        self._update_counts()

    def _on_notice(self, notice: Notice) -> None:
        self.messages.show_message(notice.level, notice.text)
        if notice.level == "error":
            log.warning("%s", notice.text)

    def _about(self) -> None:
        classifier = self.controller.classifier
        model = classifier.describe() if classifier is not None else "none loaded"
        device = classifier.device if classifier is not None else "-"
        self.about_dialog = AboutDialog(model, device, self)
        self.about_dialog.open()

    def _model_info(self) -> None:
        choice = self.controller.choice
        spec = choice.spec if choice is not None else self.controller.settings.model
        self.model_info_dialog = ModelInfoDialog(spec, self)
        self.model_info_dialog.open()

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.train_holder and self.training_tab is None:
            from gui.training.tab import TrainingTab  # pyqtgraph and the training engine: heavy

            self.training_tab = TrainingTab(parent=self.train_holder)
            self.train_holder.layout().addWidget(self.training_tab)
            self.training_tab.model_ready.connect(self._on_trained_model)

    def _on_trained_model(self, path: str) -> None:
        self.models.load(path)
        self._on_notice(Notice("info", f"Now classifying with your new model {Path(path).name}."))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.geometry = self.saveGeometry()
        self.settings.splitter = self.splitter.saveState()
        self.settings.sync()
        self.hide()
        if self.training_tab is not None:
            self.training_tab.shutdown()
        self.controller.shutdown()
        event.accept()
