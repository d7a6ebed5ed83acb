"""Drive the real window through the README's scenarios and grab the screen at each step.

Run by ``make_screenshots.py`` on a virtual 1366x768 X screen with openbox (environment
variables name the data folder, the model and the wide photo). The whole screen is grabbed,
so the shots show the window as it fits the screen, frame included.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def _spin(until: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not until():
        if time.monotonic() > end:
            raise TimeoutError(f"screenshots: waited {timeout:.0f} s for {what}")
        QApplication.processEvents()
        time.sleep(0.02)


def _settle(seconds: float = 0.6) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def drive(work: Path, out: Path, save: Callable[[Image.Image, Path], None]) -> None:
    from engine.resources import assets_dir
    from gui.settings import Settings

    app = QApplication.instance() or QApplication([])
    app.setApplicationDisplayName("ResLens")
    from PySide6.QtGui import QIcon

    app.setWindowIcon(QIcon(str(assets_dir() / "icons" / "reslens-64.png")))
    data, model = Path(os.environ["RESLENS_SHOT_DATA"]), os.environ["RESLENS_SHOT_MODEL"]
    wide = Path(os.environ["RESLENS_SHOT_WIDE"])
    settings = Settings.at(Path(os.environ["RESLENS_SHOT_HOME"]) / "reslens.ini")
    only = os.environ.get("RESLENS_SHOT_ONLY")
    if only != "missing-weights":
        _main_window_shots(settings, model, data, wide, work, out, save, train=only is None)
    if only in (None, "missing-weights"):
        _missing_weights(settings, out, save)


def _main_window_shots(settings, model, data, wide, work, out, save, *, train: bool) -> None:  # type: ignore[no-untyped-def]
    from gui.main_window import MainWindow
    from gui.options import StartOptions

    window = MainWindow(settings, options=StartOptions(model=model, mode="overlay"))
    window.show()
    window.start()
    _spin(lambda: window.controller.classifier is not None, 120, "the model")
    _classify(window, data / "val", wide, out, save)
    if train:
        _train(window, data, work, out, save)
    window.close()


def _missing_weights(settings, out: Path, save) -> None:  # type: ignore[no-untyped-def]
    """The first start offline: ResNet-50 without its weights, the dialog over the window."""
    from PySide6.QtGui import QPainter

    from engine.resources import assets_dir
    from gui.main_window import MainWindow
    from gui.options import StartOptions

    samples = str(assets_dir() / "samples")
    window = MainWindow(settings, options=StartOptions(model="resnet50", paths=(samples,)))
    window.show()
    window.start()
    _spin(lambda: window.models.missing_weights is not None, 120, "the missing-weights dialog")
    dialog = window.models.missing_weights
    _settle(2.0)
    screen = QGuiApplication.primaryScreen().grabWindow(0)
    # A transient dialog can come out black in a grab of the whole X screen; its own
    # rendering is exact, so it is painted over at its place (inside its frame).
    painter = QPainter(screen)
    painter.drawPixmap(dialog.geometry().topLeft(), dialog.grab())
    painter.end()
    raw = out.parents[1] / "bench" / "out" / "screenshots" / "missing-weights-raw.png"
    screen.save(str(raw))
    save(Image.open(raw), out / "missing-weights.png")
    print(f"saved {out / 'missing-weights.png'}")
    window.close()


def _classify(window, folder: Path, wide: Path, out: Path, save) -> None:  # type: ignore[no-untyped-def]
    from gui.results_model import RowState

    c = window.controller
    c.add_paths([folder])
    _spin(lambda: c.results.rowCount() > 0 and c.results.counts()[RowState.WAITING] == 0
          and not c.session.running, 300, "the folder to be classified")  # fmt: skip
    window._select(20)
    _spin(lambda: c.explainer.current is not None and c.explainer.current.path == c.results.path(20),
          60, "a heat map")  # fmt: skip
    window.messages.dismiss()
    _grab("main", out, save)
    c.add_paths([wide])
    _spin(
        lambda: c.results.knows(wide) and c.results.counts()[RowState.WAITING] == 0,
        120,
        "the panorama",
    )
    row = next(r for r in range(c.results.rowCount()) if c.results.path(r) == wide)
    window._select(row)
    _spin(
        lambda: c.explainer.current is not None and c.explainer.current.path == wide, 60, "its map"
    )
    _grab("cam", out, save)
    box = window.inspector.scope_box
    box.setCurrentIndex(box.findData("whole"))
    box.activated.emit(box.currentIndex())
    _spin(lambda: "whole photo" in window.inspector.status.text(), 120, "the whole-photo map")
    window.messages.dismiss()
    _grab("whole-photo", out, save)


def _train(window, data: Path, work: Path, out: Path, save) -> None:  # type: ignore[no-untyped-def]
    window.show_train()
    _settle()
    tab = window.training_tab
    tab.set_output(work / "retrained.reslens", replace=True)
    tab.set_folder(data)
    _spin(lambda: tab.scan is not None, 120, "the health report")
    _grab("train-1-data", out, save)
    tab.pages.go(1)
    tab.options.epochs.setValue(4)
    tab.options.set_image_size(64)
    tab.options.pretrained.setChecked(False)
    _grab("train-2-settings", out, save)
    QTest.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    _spin(lambda: len(tab.curves.history) >= 2, 900, "two epochs")
    _grab("train-3-train", out, save)
    _spin(lambda: tab.result is not None, 900, "the end of training")
    _grab("train-4-results", out, save)
    result = tab.result
    if result.misclassified:
        first = result.misclassified[0]
        names = result.class_names
        cell = tab.results.confusion.item(
            names.index(first.true_label), names.index(first.predicted_label)
        )
        rect = tab.results.confusion.visualItemRect(cell)
        QTest.mouseClick(
            tab.results.confusion.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
        )
        _spin(lambda: tab.results.has_cam(first.path), 120, "the mistakes' Grad-CAM")
        for i in range(tab.results.mistakes.count()):
            if not tab.results.mistakes.item(i).isHidden():
                tab.results.mistakes.setCurrentRow(i)
                break
        _spin(lambda: tab.results.cam.pixmap() is not None and not tab.results.cam.pixmap().isNull(),
              120, "a large Grad-CAM")  # fmt: skip
        _grab("mistakes", out, save)


def _grab(name: str, out: Path, save: Callable[[Image.Image, Path], None]) -> None:
    _settle()
    pixmap = QGuiApplication.primaryScreen().grabWindow(0)
    raw = out.parents[1] / "bench" / "out" / "screenshots" / f"{name}-raw.png"
    raw.parent.mkdir(parents=True, exist_ok=True)
    pixmap.save(str(raw))
    save(Image.open(raw), out / f"{name}.png")
    print(f"saved {out / name}.png")
