"""Which model made a results file: so that ``--resume`` never mixes two models' rows.

The identity is the architecture, the exact weights (a hash of the weights or model file, or
"random init"), top-k and the preprocessing. Each streamed row carries its short id.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelLoadError
from engine.models.model_file import MODEL_SUFFIX, read_model_info
from engine.models.registry import get_architecture
from engine.models.weights import weights_filename
from engine.onnx.cache import file_digest
from engine.runtime.build import is_model_file, is_random


@dataclass(frozen=True)
class ModelIdentity:
    """What decides a row's predictions, in words and as a short id."""

    arch: str
    weights: str  # "sha256:<hex>" of the weights or model file, or "random init"
    top_k: int
    preprocess: str

    @property
    def id(self) -> str:
        record = json.dumps(
            [self.arch, self.weights, self.top_k, self.preprocess], separators=(",", ":")
        )
        return hashlib.sha256(record.encode()).hexdigest()[:16]

    def describe(self) -> str:
        weights = self.weights[:19] + "…" if self.weights.startswith("sha256:") else self.weights
        return f"{self.arch}, weights {weights}, top-{self.top_k}, {self.preprocess}"


def model_identity(model: str | Path, *, weights: str | Path | None, top_k: int) -> ModelIdentity:
    """The identity of ``model`` as the CLI names it (an architecture or a model file).

    Needs no torch and no loaded model, so any engine (local or a cluster) computes the same.
    Hashes a weights or model file the user names (about 0.2 s per 100 MB); torchvision's
    pretrained weights are named by their file name, which carries their hash.
    """
    if is_model_file(model):
        path = Path(model)
        if not path.is_file():
            raise ModelLoadError(f"Model file not found: {path}")
        return ModelIdentity(
            path.name, f"sha256:{file_digest(path)}", top_k, _file_preprocess(path)
        )
    arch = get_architecture(str(model)).name
    # Pretrained weights are evaluated with torchvision's transforms for the architecture.
    words = f"torchvision {md.version('torchvision')} default transforms"
    if is_random(weights):
        return ModelIdentity(arch, "random init", top_k, words)
    if weights is None:  # torchvision's file name carries the first digits of its sha256
        return ModelIdentity(arch, f"torchvision:{weights_filename(arch)}", top_k, words)
    return ModelIdentity(arch, f"sha256:{file_digest(Path(weights))}", top_k, words)


def class_count(model: str | Path) -> int | None:
    """How many classes ``model`` knows, when that is cheap to read (else None)."""
    if not is_model_file(model):
        return 1000  # every architecture in the registry is an ImageNet classifier
    if Path(model).suffix.lower() == MODEL_SUFFIX:
        return len(read_model_info(model).class_names)
    return None


def _file_preprocess(path: Path) -> str:
    if path.suffix.lower() == MODEL_SUFFIX:
        return read_model_info(path).preprocess.describe()
    return "as stored in the model file"  # .onnx: its metadata, covered by the file's hash
