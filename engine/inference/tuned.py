"""A model on the backend the tuner chose for this machine, tuned once and cached.

The first time a model is used on a machine, :func:`tune` measures and verifies each candidate
(:mod:`engine.inference.tuner`) and writes the outcome beside the verified export in the cache,
keyed by the machine (:meth:`engine.runtime.machine.Machine.key`: CPU flags, cores, GPUs,
library versions). Later loads read it and open the winner directly (for ONNX Runtime without
importing torch); a changed machine, or ``retune=True``, measures again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import atomic_write_text
from engine.errors import EngineError, ExportError
from engine.inference.tuner import (
    REFERENCE,
    TENSORRT,
    TUNING_TOLERANCE,
    Offer,
    Trial,
    Tuning,
    choose,
    measure,
    plan,
    trial,
)
from engine.onnx.cache import (
    CachedModel,
    cached_backend,
    cached_model,
    cached_onnx,
    onnx_backed,
    optimized_copy,
)
from engine.onnx.export import CHECK_IMAGES
from engine.onnx.parity import Tolerance, batches, generated_images, load_images
from engine.onnx.parity import validation_images as recorded_validation
from engine.runtime.backends.onnx_backend import OnnxBackend, onnxruntime_problem
from engine.runtime.classifier import Classifier
from engine.runtime.machine import Machine, this_machine
from engine.runtime.precision import Precision

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from engine.jobs import CancelToken
    from engine.models.weights import DownloadProgress
    from engine.runtime.backends import Backend

log = logging.getLogger(__name__)

Build = Callable[[], Classifier]


def tuning_path(model: CachedModel, device: str, allow_int8: bool) -> Path:
    """Where the tuning record for ``model`` on ``device`` lives (one per INT8 permission)."""
    kind = device.replace(":", "")
    return model.path(f".tuning-{kind}{'-int8' if allow_int8 else ''}.json")


def read_tuning(path: Path, machine: Machine) -> Tuning | None:
    """The cached tuning, or None when missing, damaged or made on another machine."""
    try:
        tuning = Tuning.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("tuning record %s is damaged (%s); tuning again", path, exc)
        return None
    if tuning.machine_key != machine.key():
        log.info("this machine changed since %s was tuned; tuning again", path.name)
        return None
    return tuning


def verification_images(model: CachedModel, side: int) -> tuple[list[Image.Image], str]:
    """A model file's validation split when still on disk, else generated photos."""
    if model.weights_file.suffix.lower() == ".reslens":
        from engine.models.model_file import read_model_info

        extra = read_model_info(model.weights_file).extra
        found = load_images(recorded_validation(extra), CHECK_IMAGES)
        if found:
            return found, "images of the model's validation split"
    return generated_images(CHECK_IMAGES, side, seed=1), "generated images"


def _torch_at(classifier: Classifier, precision: Precision) -> Classifier:
    """The same torch network, its forward pass under ``precision`` autocast."""
    from engine.runtime.backends.torch_backend import TorchBackend

    inner = classifier.backend
    if not isinstance(inner, TorchBackend):
        raise TypeError(f"expected a torch classifier, got {inner.name}")
    backend = TorchBackend(inner.model, inner.cam_layer, device=inner.device, autocast=precision)
    return Classifier(
        backend,
        class_names=classifier.class_names,
        preprocess=classifier.preprocess,
        source=classifier.source,
        temperature=classifier.temperature,
    )


def _int8_path(model: CachedModel, fp32: Path) -> Path:
    """The cached INT8 copy of the verified fp32 export, quantized on first use."""
    from engine.onnx.quantize import quantize_int8

    path = model.path(".int8.onnx")
    if not path.is_file():
        quantize_int8(fp32, path, tolerance=None)  # the tuner verifies it against fp32 itself
    return path


def open_candidate(name: str, model: CachedModel, build: Build, device: str) -> Classifier:
    """The classifier that candidate ``name`` ("onnxruntime fp32", "torch bf16" ...) runs."""
    if name == TENSORRT:
        from engine.runtime.backends.tensorrt import tensorrt_backend

        gpu = int(device.partition(":")[2] or 0)
        fp32 = cached_onnx(model, build=build)
        engine = tensorrt_backend(fp32, device_id=gpu, engine_cache=model.path(".tensorrt"))
        return onnx_backed(engine, model.source)
    if name == "onnxruntime int8":
        int8 = _int8_path(model, cached_onnx(model, build=build))
        copy = optimized_copy(model, "int8")
        return onnx_backed(OnnxBackend(int8, device="cpu", optimized_copy=copy), model.source)
    if name.startswith("onnxruntime"):
        return onnx_backed(cached_backend(model, build=build, device=device), model.source)
    classifier = build()
    dtype = {"torch bf16": "bfloat16", "torch fp16": "float16"}.get(name)
    if dtype is None:
        return classifier
    device_type = "cuda" if classifier.device.startswith("cuda") else "cpu"
    return _torch_at(classifier, Precision(device_type, dtype, name))


def tune(
    model: CachedModel,
    build: Build,
    *,
    device: str,
    machine: Machine,
    allow_int8: bool,
    tolerance: Tolerance = TUNING_TOLERANCE,
) -> Tuning:
    """Measure and verify each candidate for ``model`` on this machine; choose the winner."""
    reference = build()
    problem = onnxruntime_problem()
    if problem is None:
        try:
            cached_onnx(model, build=build)
        except ExportError as exc:
            problem = f"its export was refused: {exc}"
    offered, skipped = plan(
        "cuda" if device.startswith("cuda") else "cpu",
        cpu_flags=machine.flags,
        onnxruntime=problem,
        allow_int8=allow_int8,
        cuda_bf16=_cuda_bf16(device),
        tensorrt=_tensorrt_problem(device),
    )
    images, _ = verification_images(model, reference.preprocess.resize)
    check = batches(images, reference.preprocess)
    expected, rate = measure(reference.backend.logits, check)
    trials = [Trial(REFERENCE, rate, None)]
    for offer in offered:
        if offer.name != REFERENCE:
            trials.append(_try(offer, model, build, device, check, expected, tolerance))
    winner, reason = choose(trials)
    return Tuning(
        machine.key(),
        machine.describe(),
        device,
        allow_int8,
        tuple(trials),
        tuple(skipped),
        winner,
        reason,
    )


def _try(
    offer: Offer,
    model: CachedModel,
    build: Build,
    device: str,
    check: list[np.ndarray],  # float32 (N, 3, crop, crop) batches
    expected: list[np.ndarray],  # their fp32 logits (N, K)
    tolerance: Tolerance,
) -> Trial:
    try:
        candidate = open_candidate(offer.name, model, build, device)
    except (EngineError, OSError, RuntimeError) as exc:
        return Trial(offer.name, 0.0, None, f"refused: it could not be prepared ({exc})")
    backend: Backend = candidate.backend
    temperature = candidate.temperature
    return trial(
        offer.name, backend.logits, check, expected, temperature=temperature, tolerance=tolerance
    )


def _tensorrt_problem(device: str) -> str | None:
    if not device.startswith("cuda"):
        return "not a CUDA device"
    from engine.runtime.backends.tensorrt import tensorrt_problem

    return tensorrt_problem()


def _cuda_bf16(device: str) -> bool:
    if not device.startswith("cuda"):
        return False
    import torch

    return bool(torch.cuda.is_bf16_supported())


def load_tuned(
    model: str | Path,
    *,
    weights: str | Path | None = None,
    device: str = "cpu",
    allow_int8: bool = False,
    allow_download: bool = True,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
    machine: Machine | None = None,
    retune: bool = False,
) -> tuple[Classifier, Tuning]:
    """``model`` on the backend tuned for this machine (tuning now if not cached) -> (the
    classifier, the tuning). ``device``: "cpu", "cuda" or "cuda:N" (already resolved)."""
    from engine.onnx.cache import torch_builder

    machine = machine or this_machine()
    found = cached_model(
        model, weights=weights, allow_download=allow_download, progress=progress, cancel=cancel
    )
    build = torch_builder(model, weights, device)
    path = tuning_path(found, device, allow_int8)
    tuning = None if retune else read_tuning(path, machine)
    if tuning is not None:
        try:
            return open_candidate(tuning.winner, found, build, device), tuning
        except (EngineError, OSError) as exc:  # e.g. TensorRT's libraries since removed
            log.warning("the tuned backend %s is unusable (%s); tuning again", tuning.winner, exc)
    if cancel is not None:
        cancel.raise_if_cancelled("Tuning the backend")
    log.info("measuring the backends for %s on this machine (once)", found.source.name)
    tuning = tune(found, build, device=device, machine=machine, allow_int8=allow_int8)
    atomic_write_text(path, tuning.to_json())
    log.info("backend tuning:\n%s", tuning.table())
    return open_candidate(tuning.winner, found, build, device), tuning
