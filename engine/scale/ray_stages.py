"""What runs on Ray workers: decode + preprocess (CPU tasks) and classify (an actor pool).

Batches are Ray Data's numpy format, a dict of equal-length columns:

- input: ``path`` (str);
- after :func:`decode_batch`: ``path``, ``error`` (str, "" when the file decoded) and ``pixels``
  (float32 (N, 3, crop, crop), normalised; zeros on error rows);
- after :class:`ClassifyActor`: ``path``, ``error``, ``indices`` (int64 (N, k), -1 on error
  rows) and ``probs`` (float32 (N, k), 0 on error rows). Class names stay on the driver, which
  knows them from its own look at the model, so rows stay small.

Nothing here imports Ray: these are plain functions and classes that Ray ships to workers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.imaging.decode import load_image
from engine.imaging.preprocess import PreprocessSpec

log = logging.getLogger(__name__)

Batch = dict[str, np.ndarray]
DECODE_HEADROOM = 256 * 2**20  # a draft-decoded 12 MP photo is ~9 MB; Pillow, numpy and Python

KILL_SWITCH_ENV = "RESLENS_TEST_KILL_ACTOR_ONCE"
"""Test-only: the path of a marker file. While it exists, the classify actor that takes it
(by deleting it) on its second batch ends its own process, as a crashed worker would."""


def decode_batch(batch: Batch, *, spec: PreprocessSpec) -> Batch:
    """Decode and preprocess each path as the local path does; a bad file becomes an error row."""
    paths = [str(p) for p in batch["path"]]
    pixels = np.zeros((len(paths), 3, spec.crop, spec.crop), dtype=np.float32)
    errors: list[str] = []
    for i, path in enumerate(paths):
        try:
            pixels[i] = spec.to_array(load_image(Path(path), min_side=spec.resize))
            errors.append("")
        except (EngineError, OSError, ValueError) as exc:
            errors.append(failure_reason(exc))
    return {
        "path": np.asarray(paths, dtype=object),
        "error": np.asarray(errors, dtype=object),
        "pixels": pixels,
    }


def decode_task_memory(spec: PreprocessSpec, batch_size: int) -> int:
    """Bytes of memory one decode task reserves with Ray: its batch of float32 tensors, twice
    (built, then handed to Ray), and room for the one decoded photo and Pillow's working space.

    Asked for on purpose, too: Ray Data fuses a map into the next one when both ask for the same
    resources, and decoding would then move into the classify actors and run there in turn with
    the model instead of beside it in its own CPU tasks.
    """
    tensors = batch_size * 3 * spec.crop * spec.crop * 4
    return 2 * tensors + DECODE_HEADROOM


def failure_reason(exc: BaseException) -> str:
    """The one-line reason the local path reports for a file that failed to decode."""
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else str(exc) or type(exc).__name__


@dataclass(frozen=True)
class ModelRequest:
    """Which model every actor loads, as the user named it."""

    model: str
    weights: str | None
    device: str
    backend: str
    top_k: int


class ClassifyActor:
    """One classifier per actor, loaded once in ``__init__``; each call classifies one batch."""

    def __init__(self, request: ModelRequest) -> None:
        from engine.inference.loader import load_classifier
        from engine.runtime.build import is_random

        if is_random(request.weights):
            # Every actor must build the same random network, or rows would depend on which
            # actor took them.
            import torch

            torch.manual_seed(0)
        self.classifier = load_classifier(
            request.model,
            weights=request.weights,
            device=request.device,
            backend=request.backend,
        )
        self.top_k = request.top_k
        self.calls = 0
        log.info("classify actor %d ready: %s", os.getpid(), self.classifier.describe())

    def __call__(self, batch: Batch) -> Batch:
        self.calls += 1
        _maybe_crash(self.calls)
        ok = np.asarray([not e for e in batch["error"]], dtype=bool)
        k = max(1, min(self.top_k, len(self.classifier.class_names)))
        indices = np.full((len(ok), k), -1, dtype=np.int64)
        probs = np.zeros((len(ok), k), dtype=np.float32)
        if ok.any():
            predictions = self.classifier.predict_batch(batch["pixels"][ok], self.top_k)
            rows = np.flatnonzero(ok)
            for row, prediction in zip(rows, predictions, strict=True):
                indices[row] = prediction.indices
                probs[row] = prediction.probs
        return {"path": batch["path"], "error": batch["error"], "indices": indices, "probs": probs}


def _maybe_crash(calls: int) -> None:
    marker = os.environ.get(KILL_SWITCH_ENV)
    if not marker or calls < 2:
        return
    try:
        os.unlink(marker)  # only one process can delete it: the crash happens once
    except FileNotFoundError:
        return
    log.warning("test kill switch: actor %d exits now", os.getpid())
    os._exit(1)
