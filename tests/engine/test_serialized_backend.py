from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.inference.loader import load_classifier
from engine.runtime.backends.serialized import FairLock, SerializedBackend, shared
from tests.conftest import photo


class _Recorder:
    """A backend that records overlapping calls (there must be none)."""

    name = "fake"
    device = "cpu"
    precision = "fp32"

    def __init__(self) -> None:
        self.active = 0
        self.overlaps = 0
        self.calls: list[str] = []
        self._guard = threading.Lock()

    def _enter(self, what: str) -> None:
        with self._guard:
            self.active += 1
            self.overlaps += self.active > 1
            self.calls.append(what)
        time.sleep(0.005)
        with self._guard:
            self.active -= 1

    def logits(self, batch: np.ndarray) -> np.ndarray:
        self._enter("logits")
        return np.zeros((len(batch), 2), np.float32)

    def cam(self, batch: np.ndarray, class_index: int | None) -> object:
        self._enter("cam")
        return None


def test_calls_from_many_threads_never_overlap() -> None:
    inner = _Recorder()
    backend = SerializedBackend(inner)  # type: ignore[arg-type]
    batch = np.zeros((1, 3, 4, 4), np.float32)

    def work(i: int) -> None:
        for _ in range(5):
            backend.logits(batch) if i % 2 else backend.cam(batch, None)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.overlaps == 0
    assert len(inner.calls) == 20


def test_fair_lock_serves_waiters_in_arrival_order() -> None:
    """Each waiter is started only once the previous one is queued, so the arrival order is
    known; then the holder releases and asks again at once. A lock that lets the releasing
    thread barge in (``threading.Lock``) or wakes waiters in any order fails this."""
    lock = FairLock()
    order: list[str] = []
    lock.__enter__()
    threads = []
    for i in range(6):
        t = threading.Thread(target=_take, args=(lock, order, f"waiter {i}"))
        t.start()
        threads.append(t)
        _wait_until(lambda i=i: lock.waiting == i + 1)
    lock.__exit__(None, None, None)
    _take(lock, order, "holder again")
    for t in threads:
        t.join(timeout=10)
    assert order == [f"waiter {i}" for i in range(6)] + ["holder again"]


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("a waiter never queued for the lock")
        time.sleep(0.001)


def _take(lock: FairLock, order: list[str], name: str) -> None:
    with lock:
        order.append(name)


def test_shared_classifier_predicts_like_the_original(tiny_model_file: Path) -> None:
    classifier = load_classifier(tiny_model_file, device="cpu")
    both = shared(classifier)
    assert shared(both) is both
    assert both.describe() == classifier.describe()
    images = [photo(80, 60, seed=s) for s in range(2)]
    assert both.predict(images, 2) == classifier.predict(images, 2)
    assert both.explain(images[0]).class_index == classifier.explain(images[0]).class_index
