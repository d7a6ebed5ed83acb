"""The engine's only threading: cancel tokens, progress with rate and ETA, and a bounded
parallel map that keeps input order.

Long jobs take an optional :class:`CancelToken` and check it between units of work
(cooperative cancellation: a thread is never killed).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from engine.errors import Cancelled

T = TypeVar("T")
R = TypeVar("R")


class CancelToken:
    """A flag one thread sets and the worker polls. Thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, what: str = "Job") -> None:
        if self._event.is_set():
            raise Cancelled(f"{what} cancelled.")


class TaskContext(Protocol):
    """What a job running on someone's worker thread gets: a cancel token and a way to report.

    ``report(payload)`` hands frozen data to whoever runs the job (the app's task runner sends
    it to the GUI thread); the job checks ``cancel`` between units of work.
    """

    cancel: CancelToken

    def report(self, payload: object) -> None: ...


@dataclass(frozen=True)
class Progress:
    """A snapshot of a job's progress. ``total`` is None while unknown."""

    done: int
    total: int | None
    failed: int
    elapsed_s: float
    rate: float  # units per second over the recent window
    eta_s: float | None

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)

    def describe(self, unit: str = "images") -> str:
        total = f"/{self.total}" if self.total is not None else ""
        eta = f", {format_duration(self.eta_s)} left" if self.eta_s is not None else ""
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}{total} {unit} ({self.rate:.1f}/s{eta}{failed})"


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressMeter:
    """Counts finished units and turns them into :class:`Progress` with a smoothed rate."""

    def __init__(self, total: int | None = None, *, window_s: float = 10.0) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._start = time.perf_counter()
        self._window_s = window_s
        self._marks: deque[tuple[float, int]] = deque([(self._start, 0)])

    def advance(self, n: int = 1, *, failed: int = 0) -> Progress:
        self.done += n
        self.failed += failed
        now = time.perf_counter()
        self._marks.append((now, self.done))
        while len(self._marks) > 2 and now - self._marks[0][0] > self._window_s:
            self._marks.popleft()
        return self.snapshot(now)

    def snapshot(self, now: float | None = None) -> Progress:
        now = time.perf_counter() if now is None else now
        t0, d0 = self._marks[0]
        span = now - t0
        rate = (self.done - d0) / span if span > 0 else 0.0
        eta = None
        if self.total is not None and rate > 0:
            eta = max(0, self.total - self.done) / rate
        return Progress(self.done, self.total, self.failed, now - self._start, rate, eta)


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    in_flight: int,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[T, Future[R]]]:
    """Run ``fn`` over ``items`` on ``workers`` threads; yield (item, done future) in input order.

    At most ``in_flight`` items are submitted ahead of the consumer, so memory stays bounded
    however many items there are. On cancel, queued work is dropped and the map stops.
    """
    if workers < 1 or in_flight < 1:
        raise ValueError("workers and in_flight must be >= 1")
    pending: deque[tuple[T, Future[R]]] = deque()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reslens-decode") as pool:
        try:
            for item in source:
                pending.append((item, pool.submit(fn, item)))
                if len(pending) >= in_flight:
                    yield _wait_first(pending, cancel)
            while pending:
                yield _wait_first(pending, cancel)
        finally:
            for _, future in pending:
                future.cancel()


def _wait_first(
    pending: deque[tuple[T, Future[R]]], cancel: CancelToken | None
) -> tuple[T, Future[R]]:
    item, future = pending[0]
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            future.exception(timeout=0.1)
            break
        except TimeoutError:
            continue
    pending.popleft()
    return item, future
