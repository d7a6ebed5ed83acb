"""The grid of files: thumbnail, name, and the top-1 class with its confidence (or the error).

Every tile has the same size, so Qt lays out thousands of rows cheaply and asks for data (and
thumbnails) only for the tiles on screen.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from engine.inference.batch import FileResult
from gui.results_model import Role, RowState

THUMB = 128
TILE = QSize(164, 196)
PAD = 8
ERROR_COLOUR = QColor("#c62828")
MUTED_COLOUR = QColor("#757575")
DROP_COLOUR = QColor("#1e88e5")

ModelIndex = QModelIndex | QPersistentModelIndex


class ResultDelegate(QStyledItemDelegate):
    """Paints one tile; cheap enough to run for every visible tile on every repaint."""

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        return TILE

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        painter.save()
        rect: QRect = option.rect  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        tile = rect.adjusted(3, 3, -3, -3)
        if selected:
            painter.setPen(palette.color(QPalette.ColorRole.Highlight))
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight).lighter(175))
            painter.drawRoundedRect(tile, 6, 6)
        box = QRect(rect.x() + (rect.width() - THUMB) // 2, rect.y() + PAD, THUMB, THUMB)
        self._paint_picture(painter, box, index)
        state: RowState = index.data(Role.STATE)
        result: FileResult | None = index.data(Role.RESULT)
        self._paint_confidence(painter, box, result)
        self._paint_text(painter, rect, box, index, state, palette)
        painter.restore()

    def _paint_picture(self, painter: QPainter, box: QRect, index: ModelIndex) -> None:
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            target = QRect(0, 0, pixmap.width(), pixmap.height())
            target.moveCenter(box.center())
            painter.drawPixmap(target, pixmap)
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 18))
        painter.drawRoundedRect(box.adjusted(8, 8, -8, -8), 4, 4)
        state: RowState = index.data(Role.STATE)
        if state is RowState.SKIPPED or index.data(Role.THUMBNAIL_FAILED):
            painter.setPen(MUTED_COLOUR)
            suffix = str(index.data(Qt.ItemDataRole.DisplayRole)).rpartition(".")[2].upper()
            text = "no preview" if state is not RowState.SKIPPED else f".{suffix[:6]}"
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_confidence(self, painter: QPainter, box: QRect, result: FileResult | None) -> None:
        if result is None or result.prediction is None:
            return
        bar = QRect(box.x() + 8, box.bottom() + 3, box.width() - 16, 4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 25))
        painter.drawRoundedRect(bar, 2, 2)
        filled = QRect(bar)
        filled.setWidth(max(2, round(bar.width() * result.prediction.prob)))
        painter.setBrush(QColor("#1e88e5"))
        painter.drawRoundedRect(filled, 2, 2)

    def _paint_text(
        self,
        painter: QPainter,
        rect: QRect,
        box: QRect,
        index: ModelIndex,
        state: RowState,
        palette: QPalette,
    ) -> None:
        metrics = painter.fontMetrics()
        line = metrics.height()
        text_rect = QRect(rect.x() + PAD, box.bottom() + 10, rect.width() - 2 * PAD, line)
        name = str(index.data(Qt.ItemDataRole.DisplayRole))
        painter.setPen(MUTED_COLOUR)
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignHCenter,
            metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, text_rect.width()),
        )
        summary = str(index.data(Role.SUMMARY))
        text_rect.translate(0, line + 2)
        font = QFont(painter.font())
        if state is RowState.CLASSIFIED:
            font.setBold(True)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
        elif state is RowState.FAILED:
            painter.setPen(ERROR_COLOUR)
        else:
            painter.setPen(MUTED_COLOUR)
        painter.setFont(font)
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignHCenter, _fit(summary, painter, text_rect.width())
        )


def _fit(summary: str, painter: QPainter, width: int) -> str:
    """Shorten "label 93.2%" by eliding the label, so the confidence always shows."""
    metrics = painter.fontMetrics()
    if metrics.horizontalAdvance(summary) <= width:
        return summary
    label, _, percent = summary.rpartition(" ")
    if not label or not percent.endswith("%"):
        return metrics.elidedText(summary, Qt.TextElideMode.ElideRight, width)
    room = width - metrics.horizontalAdvance(" " + percent)
    return metrics.elidedText(label, Qt.TextElideMode.ElideRight, room) + " " + percent


class ResultsView(QListView):
    """A grid of uniformly sized tiles, with a hint when it is empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setUniformItemSizes(True)
        self.setGridSize(TILE)
        self.setSpacing(0)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setItemDelegate(ResultDelegate(self))
        self.setAcceptDrops(False)  # drops go to the window, which takes them anywhere
        self.setMinimumWidth(TILE.width() + 30)
        self.drop_highlight = False

    def set_drop_highlight(self, on: bool) -> None:
        """While files are dragged over the window: a dashed frame says "drop here"."""
        self.drop_highlight = on
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.drop_highlight:
            painter = QPainter(self.viewport())
            pen = QPen(DROP_COLOUR, 3, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(QColor(30, 136, 229, 28))
            painter.drawRoundedRect(self.viewport().rect().adjusted(4, 4, -4, -4), 8, 8)
            painter.drawText(
                self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, "Drop to classify"
            )
            painter.end()
        model = self.model()
        if model is not None and model.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(MUTED_COLOUR)
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.3)
            painter.setFont(font)
            painter.drawText(
                self.viewport().rect(),
                Qt.AlignmentFlag.AlignCenter,
                "Drop photos or folders here\n\nor use File › Open Files… (Ctrl+O)\n"  # noqa: RUF001
                "and Open Folder… (Ctrl+Shift+O)",
            )
            painter.end()
