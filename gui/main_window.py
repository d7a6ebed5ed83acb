"""The main window: builds the widgets and wires them to the controller. No logic of its own."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragLeaveEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from engine.explain.display import VIEW_MODES
from gui.actions import build_menus, build_toolbar, create_actions
from gui.controller import Controller
from gui.dialogs.about import AboutDialog
from gui.dialogs.model_info import ModelInfoDialog
from gui.dialogs.prompts import Prompts
from gui.file_flows import FileFlows
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
from gui.window_fit import centre_default, fit_window

if TYPE_CHECKING:
    from gui.training.tab import TrainingTab

log = logging.getLogger(__name__)
CLASSIFY_TAB, TRAIN_TAB = 0, 1


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
        self.files = FileFlows(self, self.controller, settings, self.prompts, self._on_notice)
        self.training_tab: TrainingTab | None = None
        self._fitted = False
        self._build()
        self._connect()
        self._restore()
        self.setAcceptDrops(True)

    @property
    def sort_dialog(self):  # type: ignore[no-untyped-def]
        return self.files.sort_dialog

    def _build(self) -> None:
        build_menus(self.menuBar(), self.commands)
        build_toolbar(self.addToolBar("Main"), self.commands, self.model_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.results_view)
        self.splitter.addWidget(self.inspector)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        classify = QWidget(self)
        layout = QVBoxLayout(classify)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.messages)
        layout.addWidget(self.splitter, stretch=1)
        layout.addWidget(self.progress)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(classify, "Classify")
        self.train_holder = QWidget(self)
        QVBoxLayout(self.train_holder).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(self.train_holder, "Train")
        self.tabs.setTabToolTip(CLASSIFY_TAB, "Classify images (Ctrl+1)")
        self.tabs.setTabToolTip(TRAIN_TAB, "Train a model on your own labelled images (Ctrl+2)")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.setCentralWidget(self.tabs)
        self.statusBar().addWidget(self.files_status)
        self.statusBar().addPermanentWidget(self.model_status)

    def _connect(self) -> None:
        a, c, f = self.commands, self.controller, self.files
        a.open_files.triggered.connect(f.open_files)
        a.open_folder.triggered.connect(f.open_folder)
        a.paste_paths.triggered.connect(f.paste)
        a.export.triggered.connect(f.export)
        a.sort_copies.triggered.connect(f.sort_copies)
        a.save_view.triggered.connect(self._save_view)
        a.clear.triggered.connect(self._clear)
        a.quit.triggered.connect(self.close)
        a.cancel.triggered.connect(c.cancel)
        a.classify_waiting.triggered.connect(c.classify_waiting)
        a.open_model.triggered.connect(self.models.open_model_file)
        a.choose_weights.triggered.connect(
            lambda: self.models.choose_weights(self.models.current_arch())
        )
        a.show_classify.triggered.connect(lambda: self.tabs.setCurrentIndex(CLASSIFY_TAB))
        a.show_train.triggered.connect(self.show_train)
        a.about.triggered.connect(self._about)
        a.model_info.triggered.connect(self._model_info)
        self.models.loaded.connect(self._explain_current)
        self.models.failed.connect(lambda text: self._on_notice(Notice("error", text)))
        self.model_bar.top_k_chosen.connect(self._on_top_k)
        c.activity_changed.connect(self._on_activity)
        c.notice.connect(self._on_notice)
        c.files_changed.connect(self._on_files_changed)
        self.results_view.selectionModel().currentChanged.connect(self._on_current)
        self._connect_inspector()
        self.progress.cancel_requested.connect(c.cancel)

    def _connect_inspector(self) -> None:
        explainer, inspector = self.controller.explainer, self.inspector
        explainer.image_ready.connect(inspector.show_image)
        explainer.explained.connect(self._on_explained)
        explainer.failed.connect(lambda text: inspector.show_error(None, text))
        explainer.unexplained.connect(inspector.show_status)
        inspector.class_chosen.connect(self._on_class_chosen)
        inspector.mode_changed.connect(self._on_mode)
        inspector.scope_changed.connect(self._on_scope)
        inspector.opacity_changed.connect(self._on_opacity)
        inspector.save_requested.connect(self._save_view)
        inspector.viewer.navigate.connect(self._step)

    def _restore(self) -> None:
        s = self.settings
        if s.geometry is not None:
            self.restoreGeometry(s.geometry)
            fit_window(self)  # saved on a larger screen, or grown: it must fit this one
        else:
            centre_default(self)
        if s.splitter is not None:
            self.splitter.restoreState(s.splitter)
        else:
            self.splitter.setSizes([700, 560])
        mode = self.options.mode if self.options.mode in VIEW_MODES else s.view_mode
        self.inspector.set_mode(mode)  # type: ignore[arg-type]
        self.inspector.set_scope(s.cam_scope)
        self.inspector.set_opacity(s.opacity)
        self.model_bar.top_k.setValue(s.top_k)
        self.model_bar.set_recent(s.recent_models)
        self.model_bar.set_device(s.device)
        self._on_files_changed()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:  # now the window manager's frame is known
            self._fitted = True
            fit_window(self)

    def start(self) -> None:
        """After the window is shown: load the model (importing torch), open given paths."""
        o, s = self.options, self.settings
        spec = o.model or s.model
        weights = o.weights if o.weights is not None else s.weights_file(spec)
        self.models.load(spec, weights=weights, device=o.device or s.device)
        if o.paths:
            self.controller.add_paths(list(o.paths))

    # --- dropping files -------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()
            self.tabs.setCurrentIndex(CLASSIFY_TAB)
            self.results_view.set_drop_highlight(True)

    def dragMoveEvent(self, event: QDragEnterEvent) -> None:  # type: ignore[override]
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.results_view.set_drop_highlight(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self.results_view.set_drop_highlight(False)
        paths = paths_from_mime(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.controller.add_paths(paths)

    def _clear(self) -> None:
        if self.files.clear():
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
        self.commands.save_view.setEnabled(False)
        if not index.isValid():
            return
        path: Path = index.data(Role.PATH)
        state: RowState = index.data(Role.STATE)
        if state in (RowState.SKIPPED, RowState.FAILED):
            self.controller.explainer.clear()
            self.inspector.show_error(path, str(index.data(Role.SUMMARY)))
            return
        result = index.data(Role.RESULT)
        # The tile's own top-k at once: never the previous image's bars under this photo.
        self.inspector.show_loading(path, result.prediction if result is not None else None)
        self._explain(path, None)

    def _explain(self, path: Path, class_index: int | None) -> None:
        scope = self.inspector.scope
        self.controller.explainer.show(
            path, class_index, self.controller.top_k, whole=scope == "whole"
        )

    def _on_explained(self, view: object) -> None:
        self.inspector.show_explanation(view)  # type: ignore[arg-type]
        self.commands.save_view.setEnabled(True)

    def _explain_current(self) -> None:
        index = self.results_view.currentIndex()
        if index.isValid():
            self._on_current(index)

    def _on_class_chosen(self, class_index: int) -> None:
        path = self.controller.explainer.path
        if path is not None:
            self._explain(path, class_index)

    def _on_mode(self, mode: str) -> None:
        self.settings.view_mode = mode  # type: ignore[assignment]

    def _on_scope(self, scope: str) -> None:
        self.settings.cam_scope = scope
        current = self.controller.explainer.current
        if current is not None:
            self._explain(current.path, current.explanation.class_index)

    def _on_opacity(self, percent: int) -> None:
        self.settings.opacity = percent

    def _on_top_k(self, value: int) -> None:
        self.controller.set_top_k(value)
        self._explain_current()

    def _save_view(self) -> None:
        self.files.save_view(self.inspector.viewer.mode, self.inspector.opacity.value() / 100)

    # --- the Train tab --------------------------------------------------------------------

    def show_train(self) -> None:
        """Ctrl+2: the Train tab, with the keyboard in its data-folder field."""
        self.tabs.setCurrentIndex(TRAIN_TAB)
        if self.training_tab is not None:
            self.training_tab.focus_folder()

    def _on_tab_changed(self, index: int) -> None:
        if index == TRAIN_TAB and self.training_tab is None:
            from gui.training.tab import TrainingTab  # pyqtgraph and the training engine: heavy

            self.training_tab = TrainingTab(self.settings, parent=self.train_holder)
            self.train_holder.layout().addWidget(self.training_tab)
            self.training_tab.model_ready.connect(self._use_trained_model)
            self.training_tab.model_saved.connect(self._on_model_saved)

    def _use_trained_model(self, path: str) -> None:
        self.tabs.setCurrentIndex(CLASSIFY_TAB)
        self.models.load(path)
        waiting = self.controller.results.rowCount()
        again = f"; the {waiting:,} images in the list are classified again" if waiting else ""
        self._on_notice(
            Notice("info", f"Now classifying with your new model {Path(path).name}{again}.")
        )

    def _on_model_saved(self, path: str) -> None:
        """Retrained into the model in use: reload it, or Classify would show stale results."""
        choice = self.controller.choice
        if choice is None or Path(choice.spec).resolve() != Path(path).resolve():
            return
        self.models.load(path)
        self._on_notice(
            Notice("info", f"{Path(path).name} was retrained: the Classify tab reloaded it and "
                   "classifies its images again.")
        )  # fmt: skip

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

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.may_close():
            event.ignore()
            return
        self.settings.geometry = self.saveGeometry()
        self.settings.splitter = self.splitter.saveState()
        self.settings.sync()
        self.hide()
        if self.training_tab is not None:
            self.training_tab.shutdown()
        self.controller.shutdown()
        event.accept()
