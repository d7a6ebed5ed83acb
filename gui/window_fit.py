"""Keep the main window inside the screen's available area (laptops: 1366 x 768 and less).

Qt restores a saved geometry as it was, even when that was on a larger screen, and a window
manager only clamps some of it; here the window's frame (title bar included) is made to fit,
at launch and whenever a saved geometry is restored.
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

DEFAULT_SIZE = QSize(1280, 820)
FRAME_GUESS = QMargins(4, 32, 4, 4)
"""Title bar and borders before the window manager has told us its own (not yet shown)."""


def fit_rect(frame: QRect, available: QRect) -> QRect:
    """``frame`` moved (and shrunk if needed) to lie inside ``available``."""
    width = min(frame.width(), available.width())
    height = min(frame.height(), available.height())
    left = min(max(frame.left(), available.left()), available.right() - width + 1)
    top = min(max(frame.top(), available.top()), available.bottom() - height + 1)
    return QRect(left, top, width, height)


def available_area(window: QWidget) -> QRect:
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_window(window: QWidget, available: QRect | None = None) -> None:
    """Resize and move ``window`` so that its whole frame is on ``available`` (its screen's)."""
    area = available if available is not None else available_area(window)
    inner = window.geometry()
    frame = window.frameGeometry()
    margins = QMargins(
        inner.left() - frame.left(), inner.top() - frame.top(),
        frame.right() - inner.right(), frame.bottom() - inner.bottom(),
    )  # fmt: skip
    if not window.isVisible() or margins.isNull():
        margins = FRAME_GUESS
    frame = fit_rect(inner.marginsAdded(margins), area)
    size = frame.marginsRemoved(margins).size()
    if size != inner.size():
        window.resize(size)
    window.move(frame.topLeft())  # a window's position is its frame's


def centre_default(window: QWidget, available: QRect | None = None) -> None:
    """The default size, centred, fitted to the screen."""
    area = available if available is not None else available_area(window)
    size = DEFAULT_SIZE.boundedTo(area.size().shrunkBy(FRAME_GUESS))
    window.resize(size)
    frame = QRect(0, 0, size.width(), size.height()).marginsAdded(FRAME_GUESS)
    frame.moveCenter(area.center())
    window.move(frame.topLeft())
    fit_window(window, area)
