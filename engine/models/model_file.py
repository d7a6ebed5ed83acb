"""Self-describing model files (``.reslens``): safetensors tensors plus JSON metadata.

One file holds everything needed to classify with the model again: the architecture, the class
names, the preprocessing, the calibration temperature, the positive class of a two-class model,
and how the model was made (``extra``: training settings with the model-selection metric, the
split manifest with each file's group, metrics, library versions). The JSON lives in the safetensors header
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
from engine.models.card import ModelCard
from engine.models.registry import build_model, get_architecture
from engine.versions import versions

if TYPE_CHECKING:
    import torch
    from torch import nn

MODEL_SUFFIX = ".reslens"
SCHEMA_VERSION = 1
_HEADER_KEY = "reslens"


@dataclass(frozen=True)
class ModelInfo(ModelCard):
    """What a model file says about its model: its :class:`ModelCard`, when it was made, and
    ``extra``, the training records as JSON data."""

    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    positive_class: str | None = None  # of a two-class model: what sensitivity is about

    def __post_init__(self) -> None:
        if not self.class_names:
            raise ValueError("a model needs at least one class name")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")
        if self.positive_class is not None and self.positive_class not in self.class_names:
            raise ValueError("positive_class must be one of class_names")

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema_version": self.schema_version,
                **self.card_dict(),
                "positive_class": self.positive_class,
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
        fields = cls.card_fields(data) | {"arch": get_architecture(data["arch"]).name}
        return cls(
            **fields,
            created=str(data.get("created", "")),
            extra=data.get("extra", {}),
            schema_version=version,
            positive_class=data.get("positive_class"),
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


def build_network(info: ModelCard) -> nn.Module:
    """The network ``info`` describes, randomly initialised: the stock architecture with the
    card's number of classes, its layers resized to ``info.structure`` when it was pruned."""
    network = build_model(info.arch, num_classes=len(info.class_names))
    if info.structure is not None:
        resize_layers(network, info.structure["layers"])
    return network


def layer_widths(network: nn.Module) -> dict[str, list[int]]:
    """Conv/linear ``[out, in]`` and batch-norm ``[n]`` widths by module name (see
    :mod:`engine.models.card`)."""
    from torch import nn

    widths: dict[str, list[int]] = {}
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            widths[name] = [module.out_channels, module.in_channels]
        elif isinstance(module, nn.Linear):
            widths[name] = [module.out_features, module.in_features]
        elif isinstance(module, nn.BatchNorm2d):
            widths[name] = [module.num_features]
    return widths


def resize_layers(network: nn.Module, widths: Mapping[str, list[int]]) -> None:
    """Replace each conv, linear and batch-norm layer named in ``widths`` by a fresh one of
    those widths (kernel, stride, padding and bias kept)."""
    from torch import nn

    for name, size in widths.items():
        old = network.get_submodule(name)
        new: nn.Module
        if isinstance(old, nn.Conv2d):
            new = nn.Conv2d(
                size[1],
                size[0],
                old.kernel_size,  # type: ignore[arg-type]
                stride=old.stride,  # type: ignore[arg-type]
                padding=old.padding,  # type: ignore[arg-type]
                dilation=old.dilation,  # type: ignore[arg-type]
                bias=old.bias is not None,
            )
        elif isinstance(old, nn.Linear):
            new = nn.Linear(size[1], size[0], bias=old.bias is not None)
        elif isinstance(old, nn.BatchNorm2d):
            new = nn.BatchNorm2d(size[0])
        else:
            raise ModelLoadError(f"cannot resize layer {name!r} ({type(old).__name__})")
        parent, _, child = name.rpartition(".")
        setattr(network.get_submodule(parent) if parent else network, child, new)


def card_of(path: str | Path) -> ModelCard | None:
    """The card of a ``.reslens`` file, None for anything else (an architecture name)."""
    if Path(path).suffix.lower() != MODEL_SUFFIX or not Path(path).is_file():
        return None
    return read_model_info(path).card()
