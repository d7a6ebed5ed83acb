"""The list of files in the window and what is known about each: a Qt item model.

One row per file, in the order they were added. A row is waiting (not classified yet),
classified, failed (with the reason), or skipped (not an image). Thumbnails come from a
:class:`~gui.thumbnails.ThumbnailProvider` only when a view asks for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Slot,
)

from engine.inference.batch import FileResult
from gui.thumbnails import ThumbnailProvider

ModelIndex = QModelIndex | QPersistentModelIndex


class RowState(Enum):
    WAITING = "waiting"
    CLASSIFIED = "classified"
    FAILED = "failed"
    SKIPPED = "skipped"


class Role:
    RESULT = Qt.ItemDataRole.UserRole + 1  # FileResult | None
    PATH = Qt.ItemDataRole.UserRole + 2  # Path
    STATE = Qt.ItemDataRole.UserRole + 3  # RowState
    SUMMARY = Qt.ItemDataRole.UserRole + 4  # "tabby 87.3 %" | reason | "waiting"
    THUMBNAIL_FAILED = Qt.ItemDataRole.UserRole + 5  # bool


@dataclass
class _Row:
    path: Path
    result: FileResult | None = None
    skipped: str | None = None

    @property
    def state(self) -> RowState:
        if self.skipped is not None:
            return RowState.SKIPPED
        if self.result is None:
            return RowState.WAITING
        return RowState.CLASSIFIED if self.result.ok else RowState.FAILED

    def summary(self) -> str:
        if self.skipped is not None:
            return f"skipped: {self.skipped}"
        if self.result is None:
            return "waiting"
        if self.result.prediction is None:
            return self.result.error or "failed"
        return f"{self.result.prediction.label} {self.result.prediction.prob:.1%}"


class ResultsModel(QAbstractListModel):
    """Rows of files; updated in chunks from the GUI thread only."""

    def __init__(self, thumbnails: ThumbnailProvider, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[_Row] = []
        self._row_of: dict[str, int] = {}
        self.thumbnails = thumbnails
        thumbnails.ready.connect(self._on_thumbnail)

    # --- Qt model interface -------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.path.name
        if role == Qt.ItemDataRole.DecorationRole:
            if row.skipped is not None:
                return None
            return self.thumbnails.pixmap(str(row.path))
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row)
        return self._custom(row, role)

    def _custom(self, row: _Row, role: int) -> object:
        if role == Role.RESULT:
            return row.result
        if role == Role.PATH:
            return row.path
        if role == Role.STATE:
            return row.state
        if role == Role.SUMMARY:
            return row.summary()
        if role == Role.THUMBNAIL_FAILED:
            return self.thumbnails.failed(str(row.path))
        return None

    # --- changes ------------------------------------------------------------------------

    def knows(self, path: Path) -> bool:
        return str(path) in self._row_of

    def add_files(self, paths: Sequence[Path], skipped: Sequence[tuple[Path, str]] = ()) -> None:
        """Append rows for new files (waiting) and for skipped ones (with their reason)."""
        fresh = [_Row(p) for p in paths if not self.knows(p)]
        fresh += [_Row(p, skipped=why) for p, why in skipped if not self.knows(p)]
        if not fresh:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for offset, row in enumerate(fresh):
            self._rows.append(row)
            self._row_of[str(row.path)] = first + offset
        self.endInsertRows()

    def set_results(self, rows: Sequence[int], results: Sequence[FileResult]) -> None:
        """Store ``results[i]`` for row ``rows[i]``; one repaint for the whole chunk."""
        if not rows:
            return
        for row, result in zip(rows, results, strict=True):
            self._rows[row].result = result
        self._changed(min(rows), max(rows))

    def reset_results(self) -> None:
        """Forget every classification (a new model is in use); rows become waiting."""
        for row in self._rows:
            row.result = None
        if self._rows:
            self._changed(0, len(self._rows) - 1)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._row_of.clear()
        self.endResetModel()

    # --- queries ------------------------------------------------------------------------

    def waiting_rows(self) -> list[int]:
        return [i for i, row in enumerate(self._rows) if row.state is RowState.WAITING]

    def path(self, row: int) -> Path:
        return self._rows[row].path

    def result(self, row: int) -> FileResult | None:
        return self._rows[row].result

    def state(self, row: int) -> RowState:
        return self._rows[row].state

    def results(self, *, include_skipped: bool = True) -> list[FileResult]:
        """Every row with a known outcome, as result rows (skipped files become error rows)."""
        out: list[FileResult] = []
        for row in self._rows:
            if row.result is not None:
                out.append(row.result)
            elif row.skipped is not None and include_skipped:
                out.append(FileResult(row.path, error=f"skipped: {row.skipped}"))
        return out

    def counts(self) -> dict[RowState, int]:
        counts = dict.fromkeys(RowState, 0)
        for row in self._rows:
            counts[row.state] += 1
        return counts

    @Slot(str)
    def _on_thumbnail(self, path: str) -> None:
        row = self._row_of.get(path)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _changed(self, first: int, last: int) -> None:
        self.dataChanged.emit(self.index(first), self.index(last))


def _tooltip(row: _Row) -> str:
    lines = [str(row.path)]
    if row.result is not None and row.result.prediction is not None:
        prediction = row.result.prediction
        lines += [
            f"{label}: {prob:.1%}"
            for label, prob in zip(prediction.labels, prediction.probs, strict=True)
        ]
    else:
        lines.append(row.summary())
    return "\n".join(lines)
