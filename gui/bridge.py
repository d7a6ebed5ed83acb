"""THE place where worker threads meet Qt.

A :class:`TaskRunner` owns one worker thread and runs Python callables on it. Everything a
task produces (progress, its value, its exception) travels back as a message: the worker emits
``_Poster.posted``, which is connected with a *queued* connection to the ``@Slot``
:meth:`TaskRunner._deliver` of the runner, a QObject living in the GUI thread. Only there are
the callbacks given to :meth:`TaskRunner.submit` called (and the runner's signals emitted),
so they run on the GUI thread, each task's own: no routing by task id or payload type. (With PySide6 6.12, a worker's signal connected straight to a lambda runs
the lambda in the worker thread, queued connection or not; hence this detour.)

Rules for tasks: build ``QImage`` if you like, never ``QPixmap`` or widgets; check
``ctx.cancel`` between units of work (a thread is never terminated); return frozen data.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

from engine.errors import Cancelled, EngineError
from engine.jobs import CancelToken

log = logging.getLogger(__name__)

WORKER_NICENESS = 5
Kind = Literal["progress", "finished", "failed", "cancelled", "dropped"]


class TaskContext:
    """What a running task gets: its cancel token and a way to report progress."""

    def __init__(self, runner: TaskRunner, task_id: int, cancel: CancelToken) -> None:
        self._runner = runner
        self.task_id = task_id
        self.cancel = cancel

    def report(self, payload: object) -> None:
        """Send ``payload`` (frozen data) to the GUI thread as ``progress(task_id, payload)``."""
        if not self.cancel.cancelled:
            self._runner._post(_Message("progress", self.task_id, payload))


Task = Callable[[TaskContext], Any]


@dataclass(frozen=True)
class _Message:
    kind: Kind
    task_id: int
    payload: object = None


@dataclass(frozen=True)
class Callbacks:
    """What to call (on the GUI thread) when a task reports, returns, fails or is dropped."""

    progress: Callable[[Any], None] | None = None
    result: Callable[[Any], None] | None = None
    error: Callable[[BaseException], None] | None = None
    cancelled: Callable[[], None] | None = None


@dataclass
class _Entry:
    task_id: int
    fn: Task
    cancel: CancelToken = field(default_factory=CancelToken)


class _Poster(QObject):
    """Lives in the GUI thread; workers emit its signal, Qt queues it to the GUI thread."""

    posted = Signal(object)


class TaskRunner(QObject):
    """One worker thread running submitted tasks, one at a time.

    ``max_pending=None``: tasks run in submission order. ``max_pending=n``: the newest task
    runs first and only ``n`` tasks wait; older ones are dropped (``dropped`` signal). That
    suits work where only the latest request matters (the selected image, visible thumbnails).
    """

    progress = Signal(int, object)  # task id, payload from ctx.report
    finished = Signal(int, object)  # task id, return value
    failed = Signal(int, object)  # task id, the exception
    cancelled = Signal(int)
    dropped = Signal(int)

    _ids = itertools.count(1)

    def __init__(
        self, name: str, *, max_pending: int | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.name = name
        self._max_pending = max_pending
        self._cond = threading.Condition()
        self._queue: deque[_Entry] = deque()
        self._running: _Entry | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._callbacks: dict[int, Callbacks] = {}  # GUI thread only
        self._poster = _Poster()
        self._poster.posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def submit(
        self,
        fn: Task,
        *,
        progress: Callable[[Any], None] | None = None,
        result: Callable[[Any], None] | None = None,
        error: Callable[[BaseException], None] | None = None,
        cancelled: Callable[[], None] | None = None,
    ) -> int:
        """Queue ``fn(ctx)`` to run on the worker thread; return its task id.

        ``progress(payload)`` for each ``ctx.report``, then exactly one of ``result(value)``,
        ``error(exc)`` or ``cancelled()`` (also when the task is dropped or never ran), all on
        the GUI thread. Call from the GUI thread.
        """
        entry = _Entry(next(self._ids), fn)
        self._callbacks[entry.task_id] = Callbacks(progress, result, error, cancelled)
        dropped: list[_Entry] = []
        with self._cond:
            if self._stopping:
                raise RuntimeError(f"task runner {self.name} is shut down")
            if self._max_pending is None:
                self._queue.append(entry)
            else:
                self._queue.appendleft(entry)
                while len(self._queue) > self._max_pending:
                    dropped.append(self._queue.pop())
            self._ensure_thread()
            self._cond.notify()
        for old in dropped:
            self.dropped.emit(old.task_id)
            self._call_cancelled(old.task_id)
        return entry.task_id

    def cancel(self, task_id: int) -> None:
        """Stop a task: a waiting one never runs, a running one is asked to stop."""
        with self._cond:
            if self._running is not None and self._running.task_id == task_id:
                self._running.cancel.cancel()
                return
            waiting = [e for e in self._queue if e.task_id == task_id]
            for entry in waiting:
                self._queue.remove(entry)
        if waiting:
            self.cancelled.emit(task_id)
            self._call_cancelled(task_id)

    def cancel_all(self) -> None:
        with self._cond:
            waiting = list(self._queue)
            self._queue.clear()
            if self._running is not None:
                self._running.cancel.cancel()
        for entry in waiting:
            self.cancelled.emit(entry.task_id)
            self._call_cancelled(entry.task_id)

    def is_idle(self) -> bool:
        with self._cond:
            return self._running is None and not self._queue

    def shutdown(self, timeout: float | None = None) -> bool:
        """Cancel everything and wait for the worker thread to end; False if it did not."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            if self._running is not None:
                self._running.cancel.cancel()
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("worker %s still busy after %.1f s", self.name, timeout or 0)
            return False
        return True

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"reslens-{self.name}")
            self._thread.start()

    def _loop(self) -> None:
        _lower_priority()
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                entry = self._running = self._queue.popleft()
            message = self._run(entry)
            with self._cond:
                self._running = None
            self._post(message)

    def _run(self, entry: _Entry) -> _Message:
        ctx = TaskContext(self, entry.task_id, entry.cancel)
        try:
            entry.cancel.raise_if_cancelled()
            value = entry.fn(ctx)
        except Cancelled:
            return _Message("cancelled", entry.task_id)
        except EngineError as exc:  # a user-caused problem: the window shows the message
            log.info("task %d on %s: %s", entry.task_id, self.name, exc)
            return _Message("failed", entry.task_id, exc)
        except Exception as exc:  # any failure must reach the window, never kill the worker
            log.exception("task %d on %s failed", entry.task_id, self.name)
            return _Message("failed", entry.task_id, exc)
        if entry.cancel.cancelled:
            return _Message("cancelled", entry.task_id)
        return _Message("finished", entry.task_id, value)

    def _post(self, message: _Message) -> None:
        self._poster.posted.emit(message)

    def _call_cancelled(self, task_id: int) -> None:
        callbacks = self._callbacks.pop(task_id, None)
        if callbacks is not None and callbacks.cancelled is not None:
            callbacks.cancelled()

    @Slot(object)
    def _deliver(self, message: _Message) -> None:
        """Runs on the GUI thread: hand a worker's message to its task's callbacks."""
        task, payload = message.task_id, message.payload
        if message.kind == "progress":
            callbacks = self._callbacks.get(task)
            if callbacks is not None and callbacks.progress is not None:
                callbacks.progress(payload)
            self.progress.emit(task, payload)
            return
        callbacks = self._callbacks.pop(task, None) or Callbacks()
        if message.kind == "finished":
            if callbacks.result is not None:
                callbacks.result(payload)
            self.finished.emit(task, payload)
        elif message.kind == "failed":
            if callbacks.error is not None:
                callbacks.error(payload)  # type: ignore[arg-type]
            self.failed.emit(task, payload)
        elif message.kind == "cancelled":
            if callbacks.cancelled is not None:
                callbacks.cancelled()
            self.cancelled.emit(task)


def _lower_priority() -> None:
    """Let the GUI thread win the CPU from this worker (and the threads it starts).

    On Linux each thread has its own nice value, inherited by threads it creates (decoders,
    torch's intra-op pool), like QThread.LowPriority. Elsewhere this does nothing.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


def to_qimage(pixels: np.ndarray) -> QImage:
    """uint8 (h, w, 3) RGB or (h, w, 4) RGBA -> a QImage owning its pixels (any thread)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"pixels must be (h, w, 3|4) uint8, got shape {pixels.shape}")
    height, width, channels = pixels.shape
    fmt = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    image = QImage(pixels.data, width, height, width * channels, fmt)
    return image.copy()  # detach from the numpy buffer, which may be freed
