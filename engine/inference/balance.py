"""How many decoding threads keep the model fed: measured while a run goes, not fixed.

Folder classification decodes photos on worker threads while the model runs on the caller's
thread, on the same cores. Too few decoders starve the model (a GPU, or INT8 on a CPU, eats
images faster than one core decodes 12 MP JPEGs); too many take cores from the model's own
threads. The right number depends on the photos (a 12 MP JPEG costs about ten times a 0.2 MP
one), the machine and the backend, so :class:`DecodeBalancer` measures both sides:

* each decode's CPU time (``time.thread_time``: contention does not inflate it);
* each batch's CPU time in the whole process while the model ran, less what the decoders
  spent meanwhile: the core-seconds the model's own threads (ONNX Runtime's or oneDNN's
  pool, or the thread feeding a GPU) cost per image;
* how long the model waited for decoded images.

Decoding needs the share ``d / (d + m)`` of the cores (:func:`decoders_needed`); the gate lets
that many decoders run, rounded up, plus one more for each recent batch that had to wait.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

SMOOTHING = 0.3
"""Weight of the newest batch in the running averages (photos in a folder vary)."""
WAIT_SHARE = 0.1
"""The model waited for images when its wait exceeded this share of its own batch time."""
CALM_BATCHES = 8
"""Batches without a wait before one extra decoder is given back."""


def available_cores() -> int:
    """The cores this process may run on (its affinity, which containers and taskset limit)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def decoders_needed(decode_s: float, model_s: float, cores: int) -> int:
    """Decoders that supply images as fast as the cores can classify them.

    ``decode_s``: CPU seconds to decode one image; ``model_s``: CPU seconds the model's
    threads spend per image. With both sharing ``cores``, the pipeline runs at most
    ``cores / (decode_s + model_s)`` images/s, and decoding needs ``decode_s`` of one core per
    image, so ``cores * decode_s / (decode_s + model_s)`` decoders, rounded up, at least one.
    """
    if decode_s <= 0:
        return 1
    share = decode_s / (decode_s + max(model_s, 0.0))
    return max(1, min(cores, math.ceil(cores * share - 1e-9)))


class DecodeGate:
    """Lets at most ``limit`` callers through at once; the limit may change at any time."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._running = 0
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self._limit = max(1, limit)
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._running < self._limit)
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify()


class DecodeBalancer:
    """Measures decoding and the model during a run and sets how many decoders may run.

    Use :meth:`wrap` on the decode function (the thread pool has :attr:`maximum` threads),
    :meth:`waiting` around the consumer's wait for the next decoded image, and
    :meth:`model` around each batch the model runs. ``fixed``: run that many decoders
    whatever the figures say (they are still measured). The first batch runs with all of them.
    """

    def __init__(self, cores: int | None = None, *, fixed: int | None = None) -> None:
        if fixed is not None and fixed < 1:
            raise ValueError("decode workers must be >= 1")
        self.cores = cores or available_cores()
        self.fixed = fixed is not None
        self.maximum = fixed or self.cores
        self.gate = DecodeGate(self.maximum)
        self.decode_s: float | None = None  # CPU seconds per decoded image (running average)
        self.model_s: float | None = None  # model CPU seconds per image (running average)
        self._lock = threading.Lock()
        self._decode_total = 0.0  # CPU seconds all decoders spent, ever
        self._waited = 0.0  # seconds the consumer waited since the last batch
        self._extra = 0
        self._calm = 0
        self._batches = 0

    @property
    def decoders(self) -> int:
        """How many decoders may run now."""
        return self.gate.limit

    def wrap(self, fn: Callable[[T], R]) -> Callable[[T], R]:
        """``fn`` run through the gate, its CPU time recorded."""

        def decode(item: T) -> R:
            with self.gate.slot():
                start = time.thread_time()
                try:
                    return fn(item)
                finally:
                    self._record_decode(time.thread_time() - start)

        return decode

    def _record_decode(self, seconds: float) -> None:
        with self._lock:
            self._decode_total += seconds
            self.decode_s = _average(self.decode_s, seconds)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around the consumer's wait for the next decoded image."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._waited += time.perf_counter() - start

    @contextmanager
    def model(self, images: int) -> Iterator[None]:
        """Around one batch of ``images`` on the model; rebalances when it is done."""
        with self._lock:
            decoded_before = self._decode_total
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        yield
        wall = time.perf_counter() - wall_before
        with self._lock:
            decoders_cpu = self._decode_total - decoded_before
        own = max(time.process_time() - cpu_before - decoders_cpu, 0.0)
        if images > 0:
            self._batches += 1
            self.model_s = _average(self.model_s, own / images)
            # The first batch always waits: the pipeline is filling.
            self._rebalance(waited=self._batches > 1 and self._waited > WAIT_SHARE * wall)
        self._waited = 0.0

    def _rebalance(self, *, waited: bool) -> None:
        if self.fixed or self.decode_s is None or self.model_s is None:
            return
        if waited:
            self._extra, self._calm = self._extra + 1, 0
        else:
            self._calm += 1
            if self._calm >= CALM_BATCHES and self._extra:
                self._extra, self._calm = self._extra - 1, 0
        need = decoders_needed(self.decode_s, self.model_s, self.cores)
        self._extra = min(self._extra, self.maximum - need)
        self.gate.set_limit(need + self._extra)

    def describe(self) -> str:
        """The balance in words, for logs and benchmarks."""
        if self.decode_s is None or self.model_s is None:
            return f"{self.decoders} of {self.maximum} decoders (not measured yet)"
        return (
            f"{self.decoders} of {self.maximum} decoders: decoding {self.decode_s * 1e3:.1f} ms, "
            f"model {self.model_s * 1e3:.1f} ms of CPU per image on {self.cores} cores"
        )


def _average(old: float | None, new: float) -> float:
    return new if old is None else (1 - SMOOTHING) * old + SMOOTHING * new
