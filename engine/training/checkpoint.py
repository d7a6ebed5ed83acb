"""A run's resumable state: saved now and then while it trains, put back on resume.

What is written is :mod:`engine.training.state`'s file (weights, optimizer, JSON meta); this
module says what goes into it and how a resumed run takes it back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.imaging.preprocess import PreprocessSpec
from engine.training.outputs import BestModel
from engine.training.prepare import TrainingParts
from engine.training.recipe import StartingPoint
from engine.training.records import EpochRecord, TrainConfig
from engine.training.state import Position, TrainingState, save_state


@dataclass(frozen=True)
class Resumed:
    """Where a resumed run continues: its position, history and best epoch so far."""

    position: Position
    history: tuple[EpochRecord, ...]
    best_epoch: int | None
    best_val_loss: float | None


def save_checkpoint(
    path: Path,
    parts: TrainingParts,
    *,
    config: TrainConfig,
    start: StartingPoint,
    spec: PreprocessSpec,
    split_fingerprint: str,
    position: Position,
    seconds: float,
    history: list[EpochRecord],
    best: BestModel | None,
) -> None:
    """Write the run's state to ``path`` (atomically) so that it can be resumed."""
    scaler = parts.amp.scaler
    meta: dict[str, Any] = {
        "config": config.to_dict(),
        "pretrained": start.pretrained,
        "start_note": start.note,
        "preprocess": spec.to_dict(),
        "split": split_fingerprint,
        "position": dataclasses.asdict(position) | {"seconds": seconds},
        "history": [r.to_dict() for r in history],
        "best_epoch": best.epoch if best else None,
        "best_val_loss": best.val_loss if best else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
    }
    save_state(path, parts.model.state_dict(), parts.optimizer.state_dict(), meta)


def restore_checkpoint(saved: TrainingState, parts: TrainingParts, config: TrainConfig) -> Resumed:
    """Load the saved weights, optimizer and loss-scaler state into ``parts``."""
    meta = saved.meta
    parts.model.load_state_dict(saved.model)
    parts.optimizer.load_state_dict(saved.optimizer)
    for group in parts.optimizer.param_groups:  # states saved before the schedule kept it
        group.setdefault("initial_lr", config.base_lr * group["lr_mult"])
    if parts.amp.scaler is not None and meta.get("scaler"):
        parts.amp.scaler.load_state_dict(meta["scaler"])
    return Resumed(
        Position(**meta["position"]),
        tuple(EpochRecord.from_dict(r) for r in meta["history"]),
        meta.get("best_epoch"),
        meta.get("best_val_loss"),
    )
