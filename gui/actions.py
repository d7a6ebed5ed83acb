"""The window's commands (menus, toolbar, shortcuts) in one place."""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenuBar, QToolBar, QWidget

Key = QKeySequence.StandardKey


@dataclass
class Actions:
    open_files: QAction
    open_folder: QAction
    paste_paths: QAction
    export: QAction
    sort_copies: QAction
    save_view: QAction
    clear: QAction
    quit: QAction
    cancel: QAction
    classify_waiting: QAction
    open_model: QAction
    choose_weights: QAction
    model_info: QAction
    show_classify: QAction
    show_train: QAction
    about: QAction

    def all(self) -> list[QAction]:
        return [getattr(self, f.name) for f in fields(self)]


def create_actions(window: QMainWindow) -> Actions:
    def make(text: str, shortcut: QKeySequence | Key | str | None = None, tip: str = "") -> QAction:
        action = QAction(text, window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        return action

    actions = Actions(
        open_files=make("Open Files…", "Ctrl+O", "Add images to classify"),
        open_folder=make("Open Folder…", "Ctrl+Shift+O", "Add a folder (with its subfolders)"),
        paste_paths=make(
            "Paste Paths", Key.Paste, "Add the files or folders copied to the clipboard"
        ),
        export=make("Export Results…", "Ctrl+E", "Save the results as CSV or JSON"),
        sort_copies=make(
            "Sort Copies into Folders…", None, "Copy images into one folder per class"
        ),
        save_view=make("Save View as PNG…", "Ctrl+S", "Save the image, overlay or heat map shown"),
        clear=make("Clear List", None, "Remove all files from the list"),
        quit=make("Quit", Key.Quit),
        cancel=make("Cancel", "Esc", "Stop the running job"),
        classify_waiting=make(
            "Classify Waiting Images", "F5", "Classify the images not classified yet"
        ),
        open_model=make("Open Model File…", None, "Use a fine-tuned .reslens (or .onnx) model"),
        choose_weights=make(
            "Choose Weights File…", None, "Use a pretrained weights file for this architecture"
        ),
        model_info=make("About This Model…", None, "Stages, size, compute, data and metrics"),
        show_classify=make("Classify", "Ctrl+1", "Show the Classify tab"),
        show_train=make("Train", "Ctrl+2", "Show the Train tab, ready to type a data folder"),
        about=make("About ResLens", None),
    )
    actions.cancel.setEnabled(False)
    actions.save_view.setEnabled(False)  # until a heat map is shown
    for action in actions.all():
        window.addAction(action)  # shortcuts work wherever the focus is in the window
    return actions


def build_menus(menu_bar: QMenuBar, actions: Actions) -> None:
    file_menu = menu_bar.addMenu("&File")
    for action in (actions.open_files, actions.open_folder, actions.paste_paths):
        file_menu.addAction(action)
    file_menu.addSeparator()
    for action in (actions.export, actions.sort_copies, actions.save_view):
        file_menu.addAction(action)
    file_menu.addSeparator()
    file_menu.addAction(actions.classify_waiting)
    file_menu.addAction(actions.cancel)
    file_menu.addAction(actions.clear)
    file_menu.addSeparator()
    file_menu.addAction(actions.quit)
    model_menu = menu_bar.addMenu("&Model")
    model_menu.addAction(actions.open_model)
    model_menu.addAction(actions.choose_weights)
    model_menu.addAction(actions.model_info)
    view_menu = menu_bar.addMenu("&View")
    view_menu.addAction(actions.show_classify)
    view_menu.addAction(actions.show_train)
    help_menu = menu_bar.addMenu("&Help")
    help_menu.addAction(actions.about)


def build_toolbar(toolbar: QToolBar, actions: Actions, model_bar: QWidget) -> None:
    toolbar.setMovable(False)
    toolbar.addAction(actions.open_files)
    toolbar.addAction(actions.open_folder)
    toolbar.addSeparator()
    toolbar.addWidget(model_bar)
    toolbar.addSeparator()
    toolbar.addAction(actions.export)
    toolbar.addAction(actions.sort_copies)
