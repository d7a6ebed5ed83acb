"""Streaming classification of many files: decode in parallel with inference, in batches.

Memory stays bounded however many files there are: only ``batch_size`` decoded images plus a
small read-ahead exist at once. A file that cannot be read becomes an error row; the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError
from engine.imaging.decode import load_image
from engine.inference.balance import DecodeBalancer
from engine.jobs import CancelToken, Progress, ProgressMeter, ordered_map
from engine.runtime.classifier import Classifier, Prediction

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class FileResult:
    """One file's outcome: a prediction, or the reason it failed."""

    path: Path
    prediction: Prediction | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.prediction is not None

    def to_dict(self) -> dict[str, Any]:
        if self.prediction is None:
            return {"path": str(self.path), "error": self.error}
        return {"path": str(self.path), "predictions": self.prediction.to_dict()}


def classify_files(
    classifier: Classifier,
    paths: Iterable[Path],
    *,
    total: int | None = None,
    top_k: int = 5,
    batch_size: int = 16,
    decode_workers: int | None = None,
    cancel: CancelToken | None = None,
    on_progress: ProgressCallback | None = None,
    balancer: DecodeBalancer | None = None,
) -> Iterator[FileResult]:
    """Yield one :class:`FileResult` per path, in input order.

    Decoding (with JPEG draft mode down to the size the model needs) and preprocessing run on
    worker threads while the model runs on the caller's thread. How many decoders run is
    measured as the run goes (:mod:`engine.inference.balance`; pass ``balancer`` to read its
    figures); ``decode_workers`` fixes the number instead. Raises
    :class:`~engine.errors.Cancelled` at the next image once ``cancel`` is set.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if total is None and isinstance(paths, Sequence):
        total = len(paths)
    spec = classifier.preprocess

    def decode(path: Path) -> np.ndarray:
        return spec.to_array(load_image(path, min_side=spec.resize))

    meter = ProgressMeter(total)
    if balancer is None:
        balancer = DecodeBalancer(fixed=decode_workers)
    workers = balancer.maximum
    pending: list[tuple[Path, np.ndarray | str]] = []
    decoded = ordered_map(
        balancer.wrap(decode),
        paths,
        workers=workers,
        in_flight=batch_size + 2 * workers,
        cancel=cancel,
    )
    for path, future in decoded:
        exc = future.exception()
        if exc is None:
            pending.append((path, future.result()))
        elif isinstance(exc, EngineError | OSError | ValueError):
            pending.append((path, _reason(exc)))
        else:
            raise exc
        if sum(not isinstance(item, str) for _, item in pending) >= batch_size:
            yield from _flush(classifier, pending, top_k, meter, on_progress, balancer)
    yield from _flush(classifier, pending, top_k, meter, on_progress, balancer)
    log.debug("decoding: %s", balancer.describe())


def _flush(
    classifier: Classifier,
    pending: list[tuple[Path, np.ndarray | str]],
    top_k: int,
    meter: ProgressMeter,
    on_progress: ProgressCallback | None,
    balancer: DecodeBalancer,
) -> Iterator[FileResult]:
    if not pending:
        return
    arrays = [item for _, item in pending if not isinstance(item, str)]
    predictions: Iterator[Prediction] = iter([])
    if arrays:
        with balancer.model(len(arrays)):
            predictions = iter(classifier.predict_batch(np.stack(arrays), top_k))
    results = [
        FileResult(path, error=item)
        if isinstance(item, str)
        else FileResult(path, next(predictions))
        for path, item in pending
    ]
    pending.clear()
    progress = meter.advance(len(results), failed=sum(not r.ok for r in results))
    yield from results
    if on_progress is not None:
        on_progress(progress)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else str(exc) or type(exc).__name__
