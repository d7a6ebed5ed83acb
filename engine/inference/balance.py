"""How many decoding threads keep the model fed: measured while a run goes, not fixed.

Folder classification decodes photos on worker threads while the model runs on the caller's
thread, on the same cores. Too few decoders starve the model (a GPU, or INT8 on a CPU, eats
images faster than one core decodes 12 MP JPEGs); too many take cores from the model's own
threads. The right number depends on the photos (a 12 MP JPEG costs about ten times a 0.2 MP
one), the machine and the backend, so :class:`DecodeBalancer` measures it while the run goes:

* the throughput of each decoder count it runs, over a few batches at a time; a
  :class:`DecoderSearch` moves to a neighbouring count when that one measured faster, and
  measures the neighbours again now and then (photos in a folder change);
* each decode's CPU time (``time.thread_time``: contention does not inflate it), and each
  batch's CPU time in the whole process while the model ran, less what the decoders spent
  meanwhile: the core-seconds the model's own threads (ONNX Runtime's or oneDNN's pool, or
  the thread feeding a GPU) cost per image. The share of the cores decoding needs,
  ``d / (d + m)`` (:func:`decoders_needed`), is the first count the search jumps to.

Why not the CPU figures alone: on two cores with ONNX Runtime fp32 and 12 MP photos they
say one decoder (decoding is a fifth of the work), but one decoder next to the model's two
threads slows both, and two measured 6-12% faster (bench/pipeline.py); where the figures are
right, the search confirms them.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

SMOOTHING = 0.3
"""Weight of the newest figure in the running averages (photos in a folder vary)."""
WINDOW_BATCHES = 2
"""Batches measured per decoder count (after one batch to settle on a new count)."""
MARGIN = 0.03
"""A count replaces the current one only when this much faster (run-to-run noise)."""
REPROBE_WINDOWS = 8
"""Windows spent on one count before its neighbours are measured again."""


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


class DecoderSearch:
    """Which decoder count to run next, from the throughput each count measured.

    Pure: :meth:`measured` takes images/s (tests give it figures). Order of exploration: the
    count the CPU figures suggest, then the neighbours of the fastest count so far; once they are
    measured it moves to the fastest (beyond :data:`MARGIN`) or stays, and after
    :data:`REPROBE_WINDOWS` windows forgets the neighbours' figures to measure them again.
    """

    def __init__(self, maximum: int, start: int | None = None) -> None:
        self.maximum = maximum
        self.current = min(max(start or maximum, 1), maximum)
        self.rates: dict[int, float] = {}
        # the latest (count, images/s) measured, bounded: a run may last a million photos
        self.history: deque[tuple[int, float]] = deque(maxlen=256)
        self._stayed = 0

    def measured(self, rate: float, suggested: int | None = None) -> int:
        """Record ``rate`` (images/s) for the current count; return the count to run next."""
        self.history.append((self.current, rate))
        old = self.rates.get(self.current)
        self.rates[self.current] = rate if old is None else (old + rate) / 2
        best = max(self.rates, key=self.rates.__getitem__)
        candidates = [suggested] if suggested else []
        candidates += [best - 1, best + 1]
        for count in candidates:
            if 1 <= count <= self.maximum and count not in self.rates:
                self.current, self._stayed = count, 0
                return count
        if self.rates[best] > (1 + MARGIN) * self.rates[self.current]:
            self.current, self._stayed = best, 0
            return best
        self._stayed += 1
        if self._stayed >= REPROBE_WINDOWS:
            self.rates = {self.current: self.rates[self.current]}
            self._stayed = 0
        return self.current


class DecodeBalancer:
    """Measures decoding and the model during a run and sets how many decoders may run.

    Use :meth:`wrap` on the decode function (the thread pool has :attr:`maximum` threads)
    and :meth:`model` around each batch the model runs. ``fixed``: run that many decoders
    whatever the figures say (they are still measured). The run starts with all of them.
    """

    def __init__(self, cores: int | None = None, *, fixed: int | None = None) -> None:
        if fixed is not None and fixed < 1:
            raise ValueError("decode workers must be >= 1")
        self.cores = cores or available_cores()
        self.fixed = fixed is not None
        self.maximum = fixed or self.cores
        self.gate = DecodeGate(self.maximum)
        self.search = DecoderSearch(self.maximum)
        self.decode_s: float | None = None  # CPU seconds per decoded image (running average)
        self.model_s: float | None = None  # model CPU seconds per image (running average)
        self._lock = threading.Lock()
        self._decode_total = 0.0  # CPU seconds all decoders spent, ever
        self._batches = 0  # batches since the count last changed (the first one settles)
        self._window: list[tuple[int, float]] = []  # (images, seconds) of the measured batches
        self._last_end: float | None = None

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
    def model(self, images: int) -> Iterator[None]:
        """Around one batch of ``images`` on the model; rebalances every few batches."""
        with self._lock:
            decoded_before = self._decode_total
        cpu_before = time.process_time()
        yield
        end = time.perf_counter()
        with self._lock:
            decoders_cpu = self._decode_total - decoded_before
        own = max(time.process_time() - cpu_before - decoders_cpu, 0.0)
        if images > 0:
            self.model_s = _average(self.model_s, own / images)
            self._finished_batch(images, end)

    def _finished_batch(self, images: int, end: float) -> None:
        """A batch ended at ``end``: the time since the previous one ended is its cost
        (waiting for decoded images included), unless it is the first at a new count."""
        last, self._last_end = self._last_end, end
        self._batches += 1
        if last is None or self._batches == 1 or self.fixed:
            return
        self._window.append((images, end - last))
        if len(self._window) < WINDOW_BATCHES:
            return
        rate = sum(n for n, _ in self._window) / max(sum(s for _, s in self._window), 1e-9)
        self._window = []
        suggested = None
        if self.decode_s is not None and self.model_s is not None:
            suggested = min(decoders_needed(self.decode_s, self.model_s, self.cores), self.maximum)
        count = self.search.measured(rate, suggested)
        if count != self.gate.limit:
            self.gate.set_limit(count)
            self._batches = 0

    def describe(self) -> str:
        """The balance in words, for logs and benchmarks."""
        text = f"{self.decoders} of {self.maximum} decoders"
        if self.decode_s is not None and self.model_s is not None:
            text += (
                f": decoding {self.decode_s * 1e3:.1f} ms, model {self.model_s * 1e3:.1f} ms "
                f"of CPU per image on {self.cores} cores"
            )
        if self.search.rates:
            rates = ", ".join(f"{n}: {r:.1f}" for n, r in sorted(self.search.rates.items()))
            text += f"; images/s by decoders {rates}"
        return text


def _average(old: float | None, new: float) -> float:
    return new if old is None else (1 - SMOOTHING) * old + SMOOTHING * new
