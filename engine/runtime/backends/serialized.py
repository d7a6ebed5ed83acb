"""Share one model between threads that take turns, first come first served.

A desktop app classifies a folder on one thread while the user asks for a Grad-CAM map on
another. Both use the same network, and Grad-CAM hooks the network and toggles its parameters'
``requires_grad`` while it runs, so two calls must never overlap. :class:`SerializedBackend`
runs one call at a time in arrival order, so an interactive request waits for at most the one
batch already running, never for the whole folder.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING

from engine.runtime.classifier import Classifier

if TYPE_CHECKING:
    import numpy as np

    from engine.explain.cam import CamResult
    from engine.runtime.backends import Backend


class FairLock:
    """A lock granted in the order it was requested (``threading.Lock`` promises no order)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._waiting: deque[object] = deque()
        self._held = False

    def __enter__(self) -> FairLock:
        ticket = object()
        with self._cond:
            self._waiting.append(ticket)
            while self._held or self._waiting[0] is not ticket:
                self._cond.wait()
            self._waiting.popleft()
            self._held = True
        return self

    @property
    def waiting(self) -> int:
        """How many threads are queued for the lock right now (not counting the holder)."""
        with self._cond:
            return len(self._waiting)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()


class SerializedBackend:
    """A :class:`~engine.runtime.backends.Backend` whose calls run one at a time across threads."""

    def __init__(self, inner: Backend, lock: FairLock | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.device = inner.device
        self.precision = inner.precision
        self._lock = lock or FairLock()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 3, H, W) -> float32 (N, C), after any call already waiting."""
        with self._lock:
            return self.inner.logits(batch)

    def cam(self, batch: np.ndarray, class_index: int | None) -> CamResult:
        with self._lock:
            return self.inner.cam(batch, class_index)


def shared(classifier: Classifier) -> Classifier:
    """The same model behind a :class:`SerializedBackend`, safe to use from several threads."""
    if isinstance(classifier.backend, SerializedBackend):
        return classifier
    return Classifier(
        SerializedBackend(classifier.backend),
        class_names=classifier.class_names,
        preprocess=classifier.preprocess,
        source=classifier.source,
        temperature=classifier.temperature,
    )
