"""ONNX Runtime's TensorRT provider, a candidate for the backend tuner on NVIDIA GPUs.

onnxruntime-gpu ships the provider, but TensorRT's own libraries (``libnvinfer``) come from
NVIDIA's ``tensorrt`` packages, so most machines with a GPU lack them. :func:`tensorrt_problem`
says why it cannot be used here; :func:`tensorrt_backend` opens a session whose first provider
really is TensorRT (ONNX Runtime otherwise falls back to CUDA or the CPU without a word), with
its engine cached beside the model: building the engine takes minutes the first time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.errors import ModelLoadError
from engine.runtime.backends.libraries import loads_any
from engine.runtime.backends.onnx_backend import (
    OnnxBackend,
    import_onnxruntime,
    onnxruntime_problem,
    session_options,
)

PROVIDER = "TensorrtExecutionProvider"
LIBRARIES = {"linux": ("libnvinfer.so.10", "libnvinfer.so.8"), "win32": ("nvinfer_10.dll",)}


def tensorrt_problem() -> str | None:
    """Why ONNX Runtime's TensorRT provider cannot run here, or None when it can be tried."""
    problem = onnxruntime_problem()
    if problem is not None:
        return problem
    if PROVIDER not in import_onnxruntime().get_available_providers():
        return "this onnxruntime build has no TensorRT provider"
    names = LIBRARIES.get(sys.platform, ())
    if loads_any(names):
        return None
    return f"TensorRT's libraries are not installed ({names[0] if names else 'no build'})"


def tensorrt_backend(model: Path, *, device_id: int, engine_cache: Path) -> OnnxBackend:
    """``model`` on TensorRT (fp32 engine, CUDA for what TensorRT cannot run); raises
    :class:`~engine.errors.ModelLoadError` when TensorRT does not start."""
    problem = tensorrt_problem()
    if problem is not None:
        raise ModelLoadError(f"TensorRT cannot be used: {problem}")
    ort = import_onnxruntime()
    engine_cache.mkdir(parents=True, exist_ok=True)
    providers = [
        (
            PROVIDER,
            {
                "device_id": device_id,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(engine_cache),
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(engine_cache),
            },
        ),
        ("CUDAExecutionProvider", {"device_id": device_id}),
        "CPUExecutionProvider",
    ]
    try:
        session = ort.InferenceSession(
            str(model), sess_options=session_options(ort, None), providers=providers
        )
    except Exception as exc:  # onnxruntime's errors derive from Exception only
        raise ModelLoadError(f"TensorRT did not start ({exc})") from exc
    if session.get_providers()[0] != PROVIDER:
        raise ModelLoadError(f"TensorRT did not start (the session runs {session.get_providers()})")
    note = f"TensorRT provider on GPU {device_id}"
    return OnnxBackend(model, session=(session, f"cuda:{device_id}", note))
