"""The resumable state of a training run, saved beside its model file (``model.reslens.state``).

One safetensors file: the network's weights after the last finished epoch (``model/<name>``),
the optimizer's per-parameter tensors (``optim/<index>/<key>``), and a JSON header with
everything else (epoch, step, history, settings, the optimizer's hyper-parameters, the split's
fingerprint). Nothing is pickled, so a state file is as safe to open as a model file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import atomic_write_bytes
from engine.errors import DatasetError

if TYPE_CHECKING:
    import torch

STATE_SUFFIX = ".state"
STATE_VERSION = 1
_HEADER_KEY = "reslens_training_state"
_MODEL, _OPTIM = "model/", "optim/"


def state_path(model_path: str | Path) -> Path:
    """Where the training state of ``model_path`` lives: ``model.reslens`` -> ``model.reslens.state``."""
    path = Path(model_path)
    return path.with_name(path.name + STATE_SUFFIX)


@dataclass
class Position:
    """How far a run is: finished epochs, optimizer steps, the epoch in progress (its step,
    summed loss, correct predictions and images seen), epochs without improvement, and the
    seconds spent before the last save."""

    epoch: int = 0
    step: int = 0
    epoch_step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    bad_epochs: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class TrainingState:
    """``model`` and ``optimizer`` are torch state dicts; ``meta`` is JSON-safe data."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    meta: dict[str, Any]


def save_state(
    path: str | Path,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any],
    meta: Mapping[str, Any],
) -> None:
    """Write a training state atomically (tensors copied to the CPU)."""
    import torch
    from safetensors.torch import save

    tensors = {_MODEL + k: v.detach().cpu().contiguous() for k, v in model_state.items()}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in optimizer_state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIM}{index}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    header = {
        "version": STATE_VERSION,
        "meta": dict(meta),
        "param_groups": optimizer_state["param_groups"],
        "optimizer_scalars": scalars,
    }
    atomic_write_bytes(path, save(tensors, metadata={_HEADER_KEY: json.dumps(header)}))


def load_state(path: str | Path) -> TrainingState:
    """Read a state written by :func:`save_state`; :class:`DatasetError` if it is unusable."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"There is no training state to resume from ({path} is missing). "
            "Start the training without resume."
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = json.loads((handle.metadata() or {})[_HEADER_KEY])
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors and json raise several types for a damaged file
        raise DatasetError(f"{path} is not a usable training state ({exc}).") from exc
    if int(header.get("version", 0)) > STATE_VERSION:
        raise DatasetError(f"{path} was written by a newer ResLens; update to resume from it.")
    model = {k[len(_MODEL) :]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(_OPTIM):
            index, name = key[len(_OPTIM) :].split("/", 1)
            per_param.setdefault(int(index), {})[name] = value
    for index, values in header["optimizer_scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    groups = [_restore_group(g) for g in header["param_groups"]]
    return TrainingState(model, {"state": per_param, "param_groups": groups}, header["meta"])


def _restore_group(group: dict[str, Any]) -> dict[str, Any]:
    # JSON turned tuples into lists; optimizers unpack betas either way but keep the type.
    return {k: tuple(v) if k == "betas" else v for k, v in group.items()}
