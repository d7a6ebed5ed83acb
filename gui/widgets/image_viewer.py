"""A zoomable view of the photo with the heat map as a layer above it.

The heat map layer is an RGBA image whose alpha is the heat (see :mod:`engine.explain.display`);
painting it at the overlay opacity over the photo equals :func:`engine.explain.overlay.blend`, so
moving the opacity slider only repaints, it never recomputes pixels.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from engine.explain.display import ViewMode

ZOOM_STEP = 1.25
ZOOM_LIMITS = (0.02, 32.0)


class ImageViewer(QGraphicsView):
    """Photo + heat map layer; fit to window, 100 %, zoom with the wheel or +/-."""

    navigate = Signal(int)  # -1 / +1: the previous / next image (arrow keys)
    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._photo = QGraphicsPixmapItem()
        self._heat = QGraphicsPixmapItem()
        for item in (self._photo, self._heat):
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            self._scene.addItem(item)
        self._heat.setZValue(1)
        self._heat_rgba = QPixmap()
        self._heat_rgb = QPixmap()
        self._mode: ViewMode = "overlay"
        self._opacity = 0.5
        self._fit = True
        self._message = "Select an image to see it here"
        self.setRenderHints(
            QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing
        )
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor("#2b2b2b"))
        self.setMinimumSize(240, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # --- content --------------------------------------------------------------------------

    def set_image(self, image: QImage) -> None:
        """Show a new photo (GUI thread: the QPixmap is made here); the heat layer is cleared."""
        self._photo.setPixmap(QPixmap.fromImage(image))
        self.clear_heat()
        self._scene.setSceneRect(QRectF(0, 0, image.width(), image.height()))
        self._message = ""
        self.fit()

    def set_heat(self, rgba: QImage, rgb: QImage) -> None:
        self._heat_rgba = QPixmap.fromImage(rgba)
        self._heat_rgb = QPixmap.fromImage(rgb)
        self._apply_mode()

    def clear_heat(self) -> None:
        self._heat_rgba = QPixmap()
        self._heat_rgb = QPixmap()
        self._apply_mode()

    def clear(self, message: str = "Select an image to see it here") -> None:
        self._photo.setPixmap(QPixmap())
        self.clear_heat()
        self._scene.setSceneRect(QRectF())
        self._message = message
        self.viewport().update()

    def show_message(self, message: str) -> None:
        """A line of text over an empty view (e.g. why a file cannot be shown)."""
        self.clear(message)

    def has_image(self) -> bool:
        return not self._photo.pixmap().isNull()

    def has_heat(self) -> bool:
        return not self._heat_rgba.isNull()

    # --- how it is shown ------------------------------------------------------------------

    @property
    def mode(self) -> ViewMode:
        return self._mode

    def set_mode(self, mode: ViewMode) -> None:
        self._mode = mode
        self._apply_mode()

    def set_opacity(self, opacity: float) -> None:
        """Peak opacity of the heat map over the photo, 0..1."""
        self._opacity = min(1.0, max(0.0, opacity))
        self._apply_mode()

    def _apply_mode(self) -> None:
        if self._mode == "heatmap" and not self._heat_rgb.isNull():
            self._heat.setPixmap(self._heat_rgb)
            self._heat.setOpacity(1.0)
            self._heat.setVisible(True)
        elif self._mode == "overlay" and not self._heat_rgba.isNull():
            self._heat.setPixmap(self._heat_rgba)
            self._heat.setOpacity(self._opacity)
            self._heat.setVisible(True)
        else:
            self._heat.setVisible(False)

    # --- zoom -----------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fit = True
        if self.has_image():
            self.fitInView(self._photo, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom())

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoom_changed.emit(self.zoom())

    def zoom_by(self, factor: float) -> None:
        target = min(ZOOM_LIMITS[1], max(ZOOM_LIMITS[0], self.zoom() * factor))
        self._fit = False
        self.scale(target / self.zoom(), target / self.zoom())
        self.zoom_changed.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        if not self.has_image():
            return
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(ZOOM_STEP**steps)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.navigate.emit(-1)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.navigate.emit(1)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(1 / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        super().drawForeground(painter, rect)
        if self._message and not self.has_image():
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor("#bdbdbd"))
            area = self.viewport().rect().adjusted(20, 20, -20, -20)
            painter.drawText(
                area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message
            )
            painter.restore()
