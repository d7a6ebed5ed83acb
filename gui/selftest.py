"""The GUI part of ``ResLens --self-test``: open the main window offscreen, draw it, close it.

The window gets settings in a temporary INI file, so a self-test never changes what the user's
app remembers, and no model is loaded (the engine self-test does that, without Qt).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.selftest import Check

if TYPE_CHECKING:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QMainWindow

log = logging.getLogger(__name__)
_SHOW_TIMEOUT_S = 10.0


def check_window() -> Check:
    """Open and close the main window; a failed :class:`Check` names what went wrong."""
    start = time.perf_counter()
    try:
        detail = _open_and_close()
        status = "ok"
    except Exception as exc:  # a self-test reports every failure instead of crashing
        detail, status = f"{type(exc).__name__}: {exc}", "failed"
    return Check("window", status, detail, time.perf_counter() - start)  # type: ignore[arg-type]


def _open_and_close() -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import qInstallMessageHandler

    # Qt's own chatter (the offscreen plugin's "does not support ...") goes to the log.
    previous = qInstallMessageHandler(lambda _kind, _context, text: log.debug("Qt: %s", text))
    try:
        return _open_and_close_window()
    finally:
        qInstallMessageHandler(previous)


def _open_and_close_window() -> str:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["ResLens"])
    with tempfile.TemporaryDirectory(prefix="reslens-selftest-") as folder:
        from gui.main_window import MainWindow
        from gui.settings import Settings

        window = MainWindow(Settings.at(Path(folder) / "settings.ini"))
        shown_after = _show(app, window)
        frame = window.grab()
        if frame.isNull() or frame.width() < 100:
            raise RuntimeError("the main window did not draw")
        window.close()
        app.processEvents()
        if window.isVisible():
            raise RuntimeError("the main window did not close")
        window.deleteLater()
        app.processEvents()
    platform = QApplication.platformName()
    return f"{frame.width()}x{frame.height()} shown in {shown_after:.2f} s and closed ({platform})"


def _show(app: QCoreApplication, window: QMainWindow) -> float:
    """Show ``window`` and wait until Qt reports it exposed -> seconds it took."""
    start = time.perf_counter()
    window.show()
    while not (window.isVisible() and window.windowHandle().isExposed()):
        app.processEvents()
        if time.perf_counter() - start > _SHOW_TIMEOUT_S:
            raise RuntimeError(f"the main window was not shown within {_SHOW_TIMEOUT_S:.0f} s")
        time.sleep(0.01)
    return time.perf_counter() - start
