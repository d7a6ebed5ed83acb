"""Classification results delivered in chunks, at most every so often, for live displays.

A window showing results as they stream in must not redraw for every image: at 1,000 images
a minute that is wasted work, and with a fast model it would flood the display. Here results
are handed over whole batches at a time, and no more often than ``min_interval_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.inference.batch import FileResult, classify_files
from engine.jobs import CancelToken, Progress
from engine.runtime.classifier import Classifier


@dataclass(frozen=True)
class ResultChunk:
    """Consecutive results: ``results[i]`` belongs to ``paths[start + i]``."""

    start: int
    results: tuple[FileResult, ...]
    progress: Progress


def classify_in_chunks(
    classifier: Classifier,
    paths: Sequence[Path],
    on_chunk: Callable[[ResultChunk], None],
    *,
    min_interval_s: float = 0.1,
    top_k: int = 5,
    batch_size: int = 8,
    cancel: CancelToken | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Classify ``paths`` (see :func:`engine.inference.batch.classify_files`) calling ``on_chunk``.

    ``on_chunk`` runs on the calling thread right after a batch finishes, when at least
    ``min_interval_s`` passed since the previous chunk, and once more at the end for whatever
    is left. Chunks are in order and together cover every path. Returns the number of
    results. Raises :class:`~engine.errors.Cancelled` once ``cancel`` is set; results of
    batches that finished before are delivered first.
    """
    buffer: list[FileResult] = []
    start, last_flush = 0, clock()
    latest: Progress | None = None

    def flush(progress: Progress) -> None:
        nonlocal start, last_flush
        chunk = ResultChunk(start, tuple(buffer), progress)
        start += len(buffer)
        last_flush = clock()
        buffer.clear()
        on_chunk(chunk)

    def on_progress(progress: Progress) -> None:
        nonlocal latest
        latest = progress
        if buffer and clock() - last_flush >= min_interval_s:
            flush(progress)

    stream = classify_files(
        classifier,
        paths,
        top_k=top_k,
        batch_size=batch_size,
        cancel=cancel,
        on_progress=on_progress,
    )
    try:
        for result in stream:
            buffer.append(result)
    finally:
        # Batches that finished before a cancel or an error still reach the display.
        if buffer and latest is not None and latest.done == start + len(buffer):
            flush(latest)
    return start
