"""The model card: what a model is, recorded the same way in a ``.reslens`` file and an ``.onnx``.

Both file formats carry these facts (the ``.reslens`` JSON header and the ``.onnx`` metadata
properties ``reslens.<field>``), through :meth:`ModelCard.card_dict` and
:meth:`ModelCard.card_fields`; each format adds its own fields in a subclass
(:class:`engine.models.model_file.ModelInfo`,
:class:`engine.runtime.backends.onnx_backend.OnnxModelInfo`).

``structure`` describes a network whose layer widths differ from the stock architecture (a
pruned one): ``{"pruned_from": arch, "ratio": r, "method": ..., "layers": {module name:
[out, in] for conv and linear layers, [n] for batch norms}}``, enough to rebuild it without the
original. ``teacher`` names the model a student was distilled from: ``{"file", "sha256",
"arch", "temperature", "alpha"}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.imaging.preprocess import PreprocessSpec

META_PREFIX = "reslens."
"""Prefix of the card's keys among an ``.onnx`` file's metadata properties."""


@dataclass(frozen=True)
class ModelCard:
    """Architecture, classes, preprocessing, calibration and lineage of one model."""

    arch: str
    class_names: tuple[str, ...]
    preprocess: PreprocessSpec
    temperature: float = 1.0
    source: str = ""  # where the weights came from, in words
    structure: Mapping[str, Any] | None = None
    teacher: Mapping[str, Any] | None = None

    def card_dict(self) -> dict[str, Any]:
        """The card's fields as JSON data (None fields left out)."""
        values = {
            "arch": self.arch,
            "class_names": list(self.class_names),
            "preprocess": self.preprocess.to_dict(),
            "temperature": self.temperature,
            "source": self.source,
            "structure": dict(self.structure) if self.structure is not None else None,
            "teacher": dict(self.teacher) if self.teacher is not None else None,
        }
        return {k: v for k, v in values.items() if v is not None}

    @staticmethod
    def card_fields(data: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor arguments from JSON data written by :meth:`card_dict` (older files lack
        ``source``, ``structure`` and ``teacher``). Raises KeyError/TypeError/ValueError."""
        return {
            "arch": str(data.get("arch", "")),
            "class_names": tuple(str(n) for n in data["class_names"]),
            "preprocess": PreprocessSpec.from_dict(data["preprocess"]),
            "temperature": float(data.get("temperature", 1.0)),
            "source": str(data.get("source", "")),
            "structure": data.get("structure"),
            "teacher": data.get("teacher"),
        }

    def card(self) -> ModelCard:
        """Just the card (drops what a file format adds)."""
        names = [f.name for f in dataclasses.fields(ModelCard)]
        return ModelCard(**{name: getattr(self, name) for name in names})

    @property
    def pruned(self) -> bool:
        return self.structure is not None


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()
