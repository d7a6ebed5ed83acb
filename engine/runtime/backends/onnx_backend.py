"""ONNX Runtime inference for models exported by ``reslens export``, without importing torch.

The ``.onnx`` file is self-describing: class names, preprocessing, architecture and temperature
live in its metadata, and a second output (``features``, the last convolutional stage) together
with the classifier weights stored in the graph gives class activation maps, which for a
pooled-linear head equal Grad-CAM at that stage.

Providers: CUDA when onnxruntime-gpu's CUDA provider actually loads, otherwise CPU; the choice
and its reason are in :attr:`OnnxBackend.provider_note`. A machine without CUDA gets no wall of
provider errors: the CUDA provider is only tried when an NVIDIA driver is present, and then with
ONNX Runtime's own logging silenced. Telemetry is switched off before onnxruntime is imported.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ModelLoadError
from engine.models.card import META_PREFIX, ModelCard
from engine.runtime.backends.libraries import loads_any
from engine.runtime.backends.optimized_graph import open_with_optimized_copy
from engine.versions import version_or_unknown

if TYPE_CHECKING:
    from engine.explain.cam import CamResult
    from engine.runtime.classifier import Classifier

log = logging.getLogger(__name__)

INPUT, LOGITS, FEATURES = "input", "logits", "features"
"""Tensor names in exported graphs: float32 (N, 3, crop, crop) -> (N, K) and (N, C, h, w)."""
FORMAT_VERSION = 1
"""Version of what ``reslens export`` writes into the metadata; readers accept up to this."""
_ORT_QUIET, _ORT_SILENT = 3, 4  # onnxruntime severities: 3 = errors only, 4 = fatal only


@dataclass(frozen=True)
class OnnxModelInfo(ModelCard):
    """What an exported model says about itself (``reslens.*`` metadata properties): its
    :class:`ModelCard` and what the export adds.

    ``cam_weight`` names the graph initializer holding the classifier weight, float32 (K, C)
    when ``cam_weight_transposed`` is False, (C, K) when True.
    """

    cam_weight: str = ""
    cam_weight_transposed: bool = False
    quantization: str = ""
    exporter: str = ""
    parity: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] | None = None

    def to_metadata(self) -> dict[str, str]:
        """``reslens.*`` key -> string value, for ONNX ``metadata_props``."""
        values: dict[str, Any] = {
            "format": FORMAT_VERSION,
            **self.card_dict(),
            "cam_weight": self.cam_weight,
            "cam_weight_transposed": self.cam_weight_transposed,
            "quantization": self.quantization,
            "exporter": self.exporter,
            "parity": self.parity,
            "extra": self.extra,
        }
        return {META_PREFIX + k: json.dumps(v) for k, v in values.items() if v is not None}

    @classmethod
    def from_metadata(
        cls, meta: Mapping[str, str], label: str = "this ONNX model"
    ) -> OnnxModelInfo:
        """Parse ``reslens.*`` properties; raises ModelLoadError for foreign or damaged files."""
        if META_PREFIX + "class_names" not in meta:
            raise ModelLoadError(
                f"{label} has no ResLens metadata (class names, preprocessing); "
                "export it with `reslens export` to use it here."
            )
        try:
            data = {
                k[len(META_PREFIX) :]: json.loads(v)
                for k, v in meta.items()
                if k.startswith(META_PREFIX)
            }
            if int(data.get("format", 1)) > FORMAT_VERSION:
                raise ModelLoadError(
                    f"{label} was written by a newer ResLens (format {data['format']}); "
                    "update ResLens to open it."
                )
            return cls(
                **cls.card_fields(data),
                cam_weight=str(data.get("cam_weight", "")),
                cam_weight_transposed=bool(data.get("cam_weight_transposed", False)),
                quantization=str(data.get("quantization", "")),
                exporter=str(data.get("exporter", "")),
                parity=data.get("parity"),
                extra=data.get("extra"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{label} has damaged ResLens metadata: {exc}") from exc


def set_metadata(proto: Any, info: OnnxModelInfo) -> None:
    """Replace an ``onnx.ModelProto``'s metadata with ``info``, plus producer and doc string."""
    del proto.metadata_props[:]
    for key, value in info.to_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "ResLens", version_or_unknown("reslens")
    proto.doc_string = (
        f"ResLens {info.arch} classifier, {len(info.class_names)} classes; "
        f"input: {info.preprocess.describe()}"
    )


@functools.cache
def import_onnxruntime() -> ModuleType:
    """onnxruntime with telemetry off and its console logging limited to errors.

    Does not import torch. When torch is already loaded, its CUDA libraries are the ones the
    CUDA provider will find; otherwise :func:`_preload_cuda` loads the same pip-installed ones.
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
    ort.set_default_logger_severity(_ORT_QUIET)
    return ort


def onnxruntime_problem() -> str | None:
    """Why ONNX Runtime cannot be used here (it fails to import), or None when it can."""
    try:
        import_onnxruntime()
    except (ImportError, OSError) as exc:  # not installed, or its native library did not load
        return f"ONNX Runtime cannot be imported ({exc})"
    return None


def default_threads() -> int:
    """Intra-op threads: all cores but one (kept for decoding and the GUI) beyond two cores.

    On two cores both go to inference: decoding threads still get time between batches, and
    bench/backends.py measured 2 threads well ahead of 1 for the model alone.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores - 1 if cores > 2 else max(1, cores)


def _driver_missing_reason() -> str | None:
    """Why the NVIDIA driver cannot be used, or None when its library loads."""
    names = {"win32": ["nvcuda.dll"], "linux": ["libcuda.so.1"]}.get(sys.platform, [])
    if not names:
        return f"CUDA is not available on {sys.platform}"
    if loads_any(names):
        return None
    return f"no NVIDIA driver found ({names[0]} is not installed)"


def _cuda_library_reason(ort: ModuleType) -> str:
    """Best guess at why the CUDA provider did not start (a missing CUDA/cuDNN library)."""
    folder = Path(str(ort.__file__)).parent / "capi"
    for name in ("libonnxruntime_providers_cuda.so", "onnxruntime_providers_cuda.dll"):
        if (folder / name).exists():
            try:
                ctypes.CDLL(str(folder / name))
            except OSError as exc:
                return f"its libraries did not load ({exc})"
    return "CUDA 12+/cuDNN 9 libraries missing or mismatched, or no usable GPU"


def _preload_cuda(ort: ModuleType) -> None:
    """Load pip-installed CUDA/cuDNN libraries (those torch uses) unless torch already did."""
    if "torch" in sys.modules or not hasattr(ort, "preload_dlls"):
        return
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):  # preload_dlls prints its failures
            ort.preload_dlls(cuda=True, cudnn=True, msvc=False)
    except (OSError, RuntimeError) as exc:
        log.debug("onnxruntime.preload_dlls failed: %s", exc)
    if out.getvalue().strip():
        log.debug("onnxruntime.preload_dlls: %s", out.getvalue().strip())


def session_options(ort: ModuleType, threads: int | None) -> Any:
    """ResLens's session options: full graph optimisation, ``threads`` intra-op threads."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = _ORT_QUIET
    return options


def _open(ort: ModuleType, model: str | bytes, options: Any, providers: list[Any]) -> Any:
    return ort.InferenceSession(model, sess_options=options, providers=providers)


def _cuda_session(
    ort: ModuleType, model: str | bytes, options: Any, device_id: int
) -> tuple[Any | None, str]:
    """Try the CUDA provider -> (session, note). The session is None, or runs on CPU, when CUDA
    is unusable; the note says why. ORT's own provider errors are silenced meanwhile."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return None, "this onnxruntime build has no CUDA provider"
    reason = _driver_missing_reason()
    if reason is not None:
        return None, reason
    _preload_cuda(ort)
    providers = [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
    ort.set_default_logger_severity(_ORT_SILENT)
    try:
        session = _open(ort, model, options, providers)
    except Exception as exc:  # onnxruntime's errors derive from Exception only
        return None, f"the CUDA provider failed ({exc})"
    finally:
        ort.set_default_logger_severity(_ORT_QUIET)
    if session.get_providers()[0] != "CUDAExecutionProvider":
        return session, f"the CUDA provider did not start: {_cuda_library_reason(ort)}"
    return session, f"CUDA provider on GPU {device_id}"


def _parse_device(device: str) -> tuple[str, int]:
    """ "auto" | "cpu" | "cuda" | "cuda:N" -> (kind, device id)."""
    text = device.strip().lower()
    if text in ("auto", "cpu", "cuda"):
        return text, 0
    if text.startswith("cuda:") and text[5:].isdigit():
        return "cuda", int(text[5:])
    raise ModelLoadError(f"Unknown device {device!r}; use auto, cpu or cuda.")


def open_session(
    model: str | Path | bytes,
    *,
    device: str = "auto",
    threads: int | None = None,
    optimized_copy: Path | None = None,
) -> tuple[Any, str, str]:
    """Open an inference session -> (session, device in words, note on the provider choice).

    ``optimized_copy``: where a CPU session keeps its graph optimised for this machine
    (:mod:`engine.runtime.backends.optimized_graph`), to start faster next time."""
    ort = import_onnxruntime()
    kind, device_id = _parse_device(device)
    source = model if isinstance(model, bytes) else str(model)
    options = session_options(ort, threads)
    session, note = None, "CPU provider: the CPU was requested"
    if kind != "cpu":
        session, why = _cuda_session(ort, source, options, device_id)
        if session is not None and session.get_providers()[0] == "CUDAExecutionProvider":
            log.info("onnxruntime: %s", why)
            return session, f"cuda:{device_id}", why
        if kind == "cuda":
            raise ModelLoadError(f"CUDA was requested but {why}; use --device cpu.")
        note = f"CPU provider: {why}"
    if session is None:
        try:
            if optimized_copy is not None and isinstance(source, str):
                session = open_with_optimized_copy(ort, source, options, optimized_copy)
            else:
                session = _open(ort, source, options, ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            label = "the model" if isinstance(model, bytes) else str(model)
            raise ModelLoadError(f"{label} is not a usable ONNX model: {exc}") from exc
    log.info("onnxruntime: %s", note)
    return session, "cpu", note


class OnnxBackend:
    """A :class:`~engine.runtime.backends.Backend` running an exported model in ONNX Runtime.

    ``model``: path to a ``.onnx`` file or its bytes. ``device``: "auto" (CUDA when its
    provider loads, else CPU), "cpu", "cuda" or "cuda:N". ``threads``: intra-op threads
    (default :func:`default_threads`). ``session``: (session, device, note) opened elsewhere
    (the TensorRT provider, :mod:`engine.runtime.backends.tensorrt`). ``optimized_copy``: see
    :func:`open_session`.
    """

    name = "onnxruntime"

    def __init__(
        self,
        model: str | Path | bytes,
        *,
        device: str = "auto",
        threads: int | None = None,
        session: tuple[Any, str, str] | None = None,
        optimized_copy: Path | None = None,
    ) -> None:
        self._model = model
        self.label = "in-memory ONNX model" if isinstance(model, bytes) else str(model)
        self.session, self.device, self.provider_note = session or open_session(
            model, device=device, threads=threads, optimized_copy=optimized_copy
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = OnnxModelInfo.from_metadata(meta, self.label)
        outputs = {o.name for o in self.session.get_outputs()}
        if LOGITS not in outputs:
            raise ModelLoadError(f"{self.label} has no '{LOGITS}' output.")
        self.has_features = FEATURES in outputs
        self.precision = "int8" if self.info.quantization else "fp32"
        self._cam_weight: np.ndarray | None = None

    @property
    def provider(self) -> str:
        return str(self.session.get_providers()[0])

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 3, crop, crop) -> float32 (N, num_classes)."""
        feed = {INPUT: np.ascontiguousarray(batch, dtype=np.float32)}
        return np.asarray(self.session.run([LOGITS], feed)[0], dtype=np.float32)

    def logits_and_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 (N, 3, crop, crop) -> logits (N, K) and last-stage features (N, C, h, w)."""
        if not self.has_features:
            raise ModelLoadError(
                f"{self.label} has no '{FEATURES}' output, so it cannot show heat maps; "
                "export it again with `reslens export`."
            )
        feed = {INPUT: np.ascontiguousarray(batch, dtype=np.float32)}
        logits, features = self.session.run([LOGITS, FEATURES], feed)
        return np.asarray(logits, np.float32), np.asarray(features, np.float32)

    def cam(self, batch: np.ndarray, class_index: int | None) -> CamResult:
        """Class activation map for one input float32 (1, 3, H, W); None explains the top-1."""
        from engine.explain.cam import CamResult, class_activation_map

        if batch.ndim != 4 or batch.shape[0] != 1:
            raise ValueError(f"batch must have shape (1, 3, H, W), got {batch.shape}")
        logits, features = self.logits_and_features(batch)
        index = int(np.argmax(logits[0])) if class_index is None else class_index
        heatmap = class_activation_map(features[0], self.cam_weight(), index)
        return CamResult(heatmap, index, float(logits[0, index]), logits[0])

    def cam_weight(self) -> np.ndarray:
        """float32 (num_classes, C) classifier weight, read once from the graph's initializers."""
        if self._cam_weight is None:
            self._cam_weight = _read_initializer(self._model, self.info, self.label)
        return self._cam_weight


def _read_initializer(model: str | Path | bytes, info: OnnxModelInfo, label: str) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    for tensor in proto.graph.initializer:
        if tensor.name == info.cam_weight:
            weight = numpy_helper.to_array(tensor).astype(np.float32)
            return np.ascontiguousarray(weight.T if info.cam_weight_transposed else weight)
    raise ModelLoadError(
        f"{label} does not hold its classifier weights ({info.cam_weight or 'unnamed'}), so it "
        "cannot show heat maps; export it again with `reslens export`."
    )


def onnx_classifier(
    model: str | Path | bytes, *, device: str = "auto", threads: int | None = None
) -> Classifier:
    """A :class:`~engine.runtime.classifier.Classifier` for an exported model, built from its metadata."""
    from engine.runtime.classifier import Classifier, ModelSource

    backend = OnnxBackend(model, device=device, threads=threads)
    info = backend.info
    name = "ONNX model" if isinstance(model, bytes) else Path(model).name
    kind = f"ONNX {info.quantization.split()[0]}" if info.quantization else "ONNX"
    pretrained = bool((info.extra or {}).get("pretrained", True))
    return Classifier(
        backend,
        class_names=info.class_names,
        preprocess=info.preprocess,
        source=ModelSource(name, info.arch, f"{backend.label} ({kind})", pretrained),
        temperature=info.temperature,
    )
