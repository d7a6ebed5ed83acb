"""Thumbnails on demand: decoded on a worker, newest request first, kept in a bounded cache.

A view asks :meth:`ThumbnailProvider.pixmap` while painting. A miss queues a decode (only
the most recent requests are kept, so fast scrolling does not build a backlog) and returns
None; when the decode is done, :attr:`ThumbnailProvider.ready` names the path so the view
repaints it. Memory stays bounded: at most ``max_items`` pixmaps (about 64 KB each).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPixmap

from engine.errors import ImageLoadError
from engine.imaging.thumbnails import THUMBNAIL_SIZE, LruCache, make_thumbnail
from gui.bridge import TaskContext, TaskRunner, to_qimage

MAX_QUEUED = 48


class ThumbnailProvider(QObject):
    """GUI-thread cache of thumbnail pixmaps, filled lazily by a worker thread."""

    ready = Signal(str)  # the path whose thumbnail (or failure) is now known

    def __init__(
        self,
        *,
        size: int = THUMBNAIL_SIZE,
        max_items: int = 1000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.size = size
        self._cache: LruCache[str, QPixmap] = LruCache(max_items)
        self._failed: LruCache[str, bool] = LruCache(max_items)
        self._requested: set[str] = set()
        self._runner = TaskRunner("thumbnails", max_pending=MAX_QUEUED, parent=self)

    def __len__(self) -> int:
        return len(self._cache)

    def pixmap(self, path: str) -> QPixmap | None:
        """The cached thumbnail, or None (a decode is then queued unless known to fail)."""
        found = self._cache.get(path)
        if found is not None or path in self._requested or path in self._failed:
            return found
        size = self.size
        self._requested.add(path)
        self._runner.submit(
            lambda ctx: _decode(ctx, path, size),
            result=lambda image: self._decoded(path, image),
            error=lambda _exc: self._decoded(path, None),
            cancelled=lambda: self._requested.discard(path),
        )
        return None

    def failed(self, path: str) -> bool:
        return path in self._failed

    def clear(self) -> None:
        self._runner.cancel_all()
        self._cache.clear()
        self._failed.clear()

    def shutdown(self) -> None:
        self._runner.shutdown()

    def _decoded(self, path: str, image: QImage | None) -> None:
        self._requested.discard(path)
        if image is None:
            self._failed.put(path, True)
        else:
            self._cache.put(path, QPixmap.fromImage(image))
        self.ready.emit(path)


def _decode(ctx: TaskContext, path: str, size: int) -> QImage | None:
    """Worker side: file -> QImage thumbnail, or None when the file cannot be decoded."""
    try:
        return to_qimage(make_thumbnail(Path(path), size))
    except (ImageLoadError, OSError, ValueError):
        return None  # the classification shows the reason; the tile shows a broken icon
