"""Self-describing model files (``.reslens``): safetensors tensors plus JSON metadata.

One file holds everything needed to classify with the model again: the architecture, the class
names, the preprocessing, the calibration temperature, and how the model was made (training
settings, split manifest, metrics, library versions). The JSON lives in the safetensors header
under the key ``reslens``, so reading it never touches the tensors and never unpickles anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import atomic_write_bytes
from engine.errors import ModelLoadError
from engine.imaging.preprocess import PreprocessSpec
from engine.models.registry import get_architecture
from engine.versions import versions

if TYPE_CHECKING:
    import torch

MODEL_SUFFIX = ".reslens"
SCHEMA_VERSION = 1
_HEADER_KEY = "reslens"


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about its model. ``extra`` holds training records as JSON data."""

    arch: str
    class_names: tuple[str, ...]
    preprocess: PreprocessSpec
    temperature: float = 1.0
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.class_names:
            raise ValueError("a model needs at least one class name")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema_version": self.schema_version,
                "arch": self.arch,
                "class_names": list(self.class_names),
                "preprocess": self.preprocess.to_dict(),
                "temperature": self.temperature,
                "created": self.created,
                "versions": versions(("reslens", "torch", "torchvision", "numpy", "pillow")),
                "extra": dict(self.extra),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        data = json.loads(text)
        version = int(data.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise ModelLoadError(
                f"This model file uses format version {version}; "
                f"this ResLens reads up to {SCHEMA_VERSION}. Update ResLens."
            )
        return cls(
            arch=get_architecture(data["arch"]).name,
            class_names=tuple(str(n) for n in data["class_names"]),
            preprocess=PreprocessSpec.from_dict(data["preprocess"]),
            temperature=float(data.get("temperature", 1.0)),
            created=str(data.get("created", "")),
            extra=data.get("extra", {}),
            schema_version=version,
        )


def save_model_file(
    path: str | Path, state_dict: Mapping[str, torch.Tensor], info: ModelInfo
) -> None:
    """Write ``state_dict`` and ``info`` to ``path`` atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    atomic_write_bytes(path, save(tensors, metadata={_HEADER_KEY: info.to_json()}))


def read_model_info(path: str | Path) -> ModelInfo:
    """Read only the metadata of a model file (fast: the tensors are not loaded)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = (handle.metadata() or {}).get(_HEADER_KEY)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"Model file not found: {path}") from exc
    except Exception as exc:  # safetensors raises its own error types for foreign files
        raise ModelLoadError(f"{path} is not a ResLens model file ({exc}).") from exc
    if header is None:
        raise ModelLoadError(f"{path} has no ResLens metadata; it is not a ResLens model file.")
    try:
        return ModelInfo.from_json(header)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path} has damaged metadata: {exc}") from exc


def load_model_file(path: str | Path) -> tuple[dict[str, torch.Tensor], ModelInfo]:
    """Read tensors and metadata from a model file."""
    from safetensors.torch import load_file

    info = read_model_info(path)
    return load_file(str(path), device="cpu"), info
