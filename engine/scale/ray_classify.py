"""Classify many files on Ray Data: CPU tasks decode, an actor pool classifies, rows stream back.

The driver (this process) holds only the list of paths and the rows in flight::

    paths --from_items--> decode_batch (CPU tasks) --> ClassifyActor (actor pool) --> driver

Rows come back in input order (``preserve_order``), one :class:`FileResult` per path, the same
as :func:`engine.inference.batch.classify_files` gives for the same files, so the CLI writes
them through the same streaming writer. A file that fails to decode is an error row carrying
the engine's reason; a worker that dies is restarted by Ray and its batch retried.

Ray is imported inside the functions: importing this module does not import it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from engine.errors import EngineError, ModelLoadError
from engine.inference.batch import FileResult
from engine.inference.loader import load_classifier
from engine.jobs import CancelToken, Progress, ProgressMeter
from engine.runtime.build import is_random
from engine.runtime.classifier import Prediction
from engine.scale.ray_stages import (
    Batch,
    ClassifyActor,
    ModelRequest,
    decode_batch,
    decode_task_memory,
)

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'reslens[cluster]' (or: pip install 'ray[data]')"
MAX_BLOCKS = 2000  # beyond this, blocks grow instead: the driver's task bookkeeping stays small


class RayUnavailableError(EngineError):
    """Ray is not installed, or the cluster cannot be reached or cannot run the job."""


@dataclass(frozen=True)
class PoolPlan:
    """How the classify stage is laid out on the cluster."""

    actors: int
    cpus_per_actor: float
    gpus_per_actor: float
    device: str  # what each actor loads the model on


def import_ray() -> ModuleType:
    """``ray`` with Ray Data, or a :class:`RayUnavailableError` saying what to install."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayUnavailableError(f"--engine ray needs Ray Data: {INSTALL_HINT}") from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[ModuleType]:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a local Ray sized to
    this machine; disconnect (and stop the local one) on the way out. A Ray session this process
    already holds is used as it is and left running."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    target = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if target is None:
            ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(address=target, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {target}" if target else "a local Ray instance"
        raise RayUnavailableError(f"Could not start or join {where}: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def plan_pool(resources: dict[str, float], device: str) -> PoolPlan:
    """One GPU actor per GPU when the cluster has GPUs (unless ``device`` is "cpu"); otherwise
    CPU actors on half the cores, leaving the other half to decoding (the slower stage on CPUs:
    docs/SCALE.md)."""
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    wants_gpu = device.lower().startswith("cuda")
    if wants_gpu and gpus == 0:
        raise ModelLoadError("--device cuda was given but the Ray cluster has no GPUs.")
    if wants_gpu or (gpus and device.lower() == "auto"):
        return PoolPlan(actors=gpus, cpus_per_actor=1, gpus_per_actor=1, device="cuda")
    return PoolPlan(actors=max(1, cpus // 2), cpus_per_actor=1, gpus_per_actor=0, device="cpu")


def classify_on_ray(
    paths: Sequence[Path],
    *,
    model: str,
    weights: str | None,
    device: str,
    backend: str,
    top_k: int,
    batch_size: int,
    address: str | None,
    cancel: CancelToken | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Iterator[FileResult]:
    """Yield one :class:`FileResult` per path, in input order, classified on Ray.

    ``model``/``weights``/``device``/``backend`` mean what they mean for
    :func:`engine.inference.loader.load_classifier`; every actor loads that model once.
    ``address``: a Ray cluster to join (else ``$RAY_ADDRESS``, else a local instance). Raises
    :class:`~engine.errors.Cancelled` at the next batch once ``cancel`` is set.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if not paths:
        return
    with ray_session(address) as ray:
        plan = plan_pool(ray.cluster_resources(), device)
        request = ModelRequest(model, weights, plan.device, backend, top_k)
        spec, class_names = _look_at_model(request)
        dataset = _build_dataset(ray, paths, spec, request, plan, batch_size)
        meter = ProgressMeter(len(paths))
        expected = iter(paths)
        with _ordered(ray):
            batches = dataset.iter_batches(
                batch_size=batch_size, batch_format="numpy", prefetch_batches=1
            )
            for batch in batches:
                if cancel is not None:
                    cancel.raise_if_cancelled("Classification")
                results = _to_results(batch, expected, class_names)
                yield from results
                progress = meter.advance(len(results), failed=sum(not r.ok for r in results))
                if on_progress is not None:
                    on_progress(progress)
        missing = sum(1 for _ in expected)
        if missing:
            raise RuntimeError(f"Ray returned {missing} rows fewer than there are paths")


def _look_at_model(request: ModelRequest) -> tuple[Any, tuple[str, ...]]:
    """Load the model once here, before any work: a bad name or file fails with the engine's
    own message; its preprocessing goes to the decode tasks and its class names label the rows.
    On one machine this also leaves the verified ONNX export (and the backend choice "auto"
    made) in the cache the actors read. GPU actors and random weights run PyTorch: a CPU copy
    in PyTorch is all the driver needs then."""
    cheap = is_random(request.weights) or request.device == "cuda"
    classifier = load_classifier(
        request.model,
        weights=request.weights,
        device="cpu",
        backend="torch" if cheap else request.backend,
    )
    return classifier.preprocess, classifier.class_names


def _build_dataset(
    ray: ModuleType,
    paths: Sequence[Path],
    spec: Any,
    request: ModelRequest,
    plan: PoolPlan,
    batch_size: int,
) -> Any:
    blocks = min(MAX_BLOCKS, math.ceil(len(paths) / batch_size))
    with _ordered(ray):
        items = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=blocks)
        decoded = items.map_batches(
            decode_batch,
            fn_kwargs={"spec": spec},
            batch_size=batch_size,
            batch_format="numpy",
            num_cpus=1,
            memory=decode_task_memory(spec, batch_size),
        )
        return decoded.map_batches(
            ClassifyActor,
            fn_constructor_kwargs={"request": request},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=plan.actors),
            num_cpus=plan.cpus_per_actor,
            num_gpus=plan.gpus_per_actor,
            # No retry options here on purpose: Ray Data's actor pools default to
            # max_restarts=-1 and max_task_retries=-1 (a dead actor is restarted and its
            # batch retried), and passing them ourselves is deprecated from Ray 2.60.
        )


@contextlib.contextmanager
def _ordered(ray: ModuleType) -> Iterator[None]:
    """Ray Data's current context set to keep input order and stay quiet, restored after."""
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    try:
        yield
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved


def _to_results(
    batch: Batch, expected: Iterator[Path], class_names: Sequence[str]
) -> list[FileResult]:
    """Rows -> results, checked against the input order (so each path comes back exactly once)."""
    results = []
    for i, name in enumerate(batch["path"]):
        path = next(expected, None)
        if path is None or str(path) != str(name):
            raise RuntimeError(f"Ray returned {name} where {path} was expected")
        error = str(batch["error"][i])
        if error:
            results.append(FileResult(path, error=error))
            continue
        indices = tuple(int(j) for j in batch["indices"][i])
        prediction = Prediction(
            labels=tuple(class_names[j] for j in indices),
            indices=indices,
            probs=tuple(float(p) for p in batch["probs"][i]),
        )
        results.append(FileResult(path, prediction))
    return results
