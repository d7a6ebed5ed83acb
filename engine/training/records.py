"""What a training run reports: its settings, per-epoch records, progress and final result.

All frozen dataclasses, safe to hand from the training thread to a window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.training.distributed import lr_scale

if TYPE_CHECKING:
    from engine.training.metrics import ClassificationMetrics
    from engine.training.splits import DataSplit

Optimizer = Literal["adamw", "sgd"]
Balance = Literal["loss", "sampler", "none"]
Phase = Literal["preparing", "training", "evaluating", "epoch", "finished"]
Stopped = Literal["completed", "early_stopped", "cancelled"]

DEFAULT_LR: dict[str, float] = {"adamw": 1e-3, "sgd": 0.01}


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. The defaults suit fine-tuning a pretrained ResNet on a few hundred
    to a few thousand images; ``image_size`` 64-128 trains much faster on small images.

    ``pretrained``: True = ImageNet weights or fail, False = from scratch, None = ImageNet
    weights when they can be had (bundled, cached, ``weights_file`` or downloaded), otherwise
    from scratch with a note. ``head_epochs``: epochs that train only the new head before the
    whole network (None: one when pretrained and there are 3+ epochs, else none).
    ``backbone_lr_factor`` scales the learning rate of pretrained layers (the last stage gets
    its square root). ``balance``: class-weighted loss, class-balanced sampling, or neither.
    ``patience``: stop after that many epochs without a lower validation loss (0: never).
    """

    arch: str = "resnet18"
    epochs: int = 10
    image_size: int = 224
    batch_size: int = 32
    lr: float | None = None  # None: 1e-3 for AdamW, 0.01 for SGD
    weight_decay: float = 0.05
    optimizer: Optimizer = "adamw"
    label_smoothing: float = 0.1
    pretrained: bool | None = None
    weights_file: str | None = None
    allow_download: bool = True
    head_epochs: int | None = None
    backbone_lr_factor: float = 0.1
    balance: Balance = "loss"
    patience: int = 5
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    device: str = "auto"
    cache_mb: int = 1024
    world_size: int = 1  # processes under torchrun; batch_size is per process

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.image_size < 16:
            raise ValueError("need epochs >= 1, batch_size >= 2 and image_size >= 16")
        if self.optimizer not in DEFAULT_LR:
            raise ValueError(f"optimizer must be one of {sorted(DEFAULT_LR)}")
        if self.balance not in ("loss", "sampler", "none"):
            raise ValueError("balance must be 'loss', 'sampler' or 'none'")
        if not 0 <= self.label_smoothing < 1 or self.patience < 0 or self.cache_mb < 0:
            raise ValueError("need 0 <= label_smoothing < 1, patience >= 0, cache_mb >= 0")
        if self.world_size < 1:
            raise ValueError("world_size must be >= 1")

    @property
    def base_lr(self) -> float:
        """``lr`` (or the optimizer's default) for one process's batch, scaled with the global
        batch under torchrun (see :func:`engine.training.distributed.lr_scale`)."""
        lr = self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]
        return lr * lr_scale(self.optimizer, self.world_size)

    def head_epochs_for(self, pretrained: bool) -> int:
        if self.head_epochs is not None:
            return min(self.head_epochs, self.epochs - 1) if pretrained else 0
        return 1 if pretrained and self.epochs >= 3 else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch. Losses in nats; accuracies in [0, 1]; ``lr`` of the head at the end."""

    epoch: int  # 1-based
    phase: Literal["head", "full"]
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    val_balanced_accuracy: float
    lr: float
    seconds: float
    images_per_s: float
    improved: bool  # the validation loss was the lowest so far: these weights are kept

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpochRecord:
        return cls(**data)


@dataclass(frozen=True)
class TrainProgress:
    """A progress report. ``step``/``steps`` count batches within the epoch (images while
    preparing); ``loss`` is the epoch's running mean training loss."""

    phase: Phase
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float | None = None
    images_per_s: float = 0.0
    eta_s: float | None = None
    message: str = ""
    history: tuple[EpochRecord, ...] = ()

    def describe(self) -> str:
        if self.phase == "preparing":
            return f"preparing images {self.step}/{self.steps}"
        from engine.jobs import format_duration

        where = f"epoch {self.epoch}/{self.epochs}"
        eta = f", {format_duration(self.eta_s)} left" if self.eta_s is not None else ""
        if self.phase == "evaluating":
            return f"{where}: evaluating on the validation images{eta}"
        if self.phase in ("epoch", "finished"):
            return f"{where} done{eta}"
        loss = f", loss {self.loss:.3f}" if self.loss is not None else ""
        return (
            f"{where}, step {self.step}/{self.steps}{loss}, {self.images_per_s:.1f} images/s{eta}"
        )


@dataclass(frozen=True)
class Misclassified:
    """A validation image the model got wrong, with the probability of its wrong answer."""

    path: Path
    true_label: str
    predicted_label: str
    prob: float


@dataclass(frozen=True)
class Calibration:
    """Temperature scaling fitted on the validation set: ECE and NLL before and after."""

    temperature: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`engine.training.run.train`. The model at ``model_path`` holds the
    weights of ``best_epoch``; ``state_path`` is set when the run can be resumed."""

    model_path: Path
    report_path: Path | None
    state_path: Path | None
    class_names: tuple[str, ...]
    metrics: ClassificationMetrics  # validation, best epoch, at the fitted temperature
    calibration: Calibration
    test_metrics: ClassificationMetrics | None
    history: tuple[EpochRecord, ...]
    best_epoch: int
    stopped: Stopped
    notes: tuple[str, ...]
    misclassified: tuple[Misclassified, ...]
    split: DataSplit
    seconds: float

    def summary(self) -> str:
        how = {"completed": "finished", "early_stopped": "stopped early", "cancelled": "cancelled"}
        lines = [
            f"training {how[self.stopped]} after {len(self.history)} epoch(s); "
            f"best epoch {self.best_epoch} (lowest validation loss)",
            f"validation: {self.split.describe()}",
            self.metrics.table(),
            f"temperature {self.calibration.temperature:.3f}: calibration error (ECE) "
            f"{self.calibration.ece_before:.3f} -> {self.calibration.ece_after:.3f}",
        ]
        if self.test_metrics is not None:
            lines += ["test set:", self.test_metrics.table()]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)
