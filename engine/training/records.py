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
SelectBy = Literal["balanced-accuracy", "accuracy", "loss"]
SELECT_BY: tuple[SelectBy, ...] = ("balanced-accuracy", "accuracy", "loss")

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
    ``select_by``: the validation figure that picks the epoch kept (ties in an accuracy are
    broken by the lower loss); ``patience``: stop after that many epochs without a better one
    (0: never). ``group_by``: how samples are grouped for the split (:mod:`engine.training.groups`).
    ``positive``: the positive class of a two-class set (None: asked of the data).
    ``folds``: 2+ trains that many cross-validation folds first, then the final model on all
    training data (0: a plain train/validation split).
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
    reduced_precision: bool = True  # bf16 autocast where the CPU has it, AMP on CUDA; False: fp32
    select_by: SelectBy = "balanced-accuracy"
    group_by: str = "auto"
    positive: str | None = None
    folds: int = 0
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
        if self.select_by not in SELECT_BY:
            raise ValueError(f"select_by must be one of {', '.join(SELECT_BY)}")
        if self.folds == 1 or self.folds < 0:
            raise ValueError("folds must be 0 (no cross-validation) or at least 2")
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
    improved: bool  # the best validation figure so far (see select_by): these weights are kept

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
    """Temperature scaling fitted on the validation split, judged on data it was not fitted
    on (``measured_on`` says which): ECE and NLL before (T = 1) and after. ``fitted`` is the
    temperature the fit found; ``temperature`` the one kept (1.0 when ``fitted`` was refused,
    with a ``note``). ``reliability_*``: (mean confidence, accuracy, count) per bin."""

    temperature: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    fitted: float = 1.0
    measured_on: str = "the validation split"
    note: str | None = None
    reliability_before: tuple[tuple[float, float, int], ...] = ()
    reliability_after: tuple[tuple[float, float, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        text = (
            f"temperature {self.temperature:.3f}: calibration error (ECE) {self.ece_before:.3f} "
            f"-> {self.ece_after:.3f}, measured on {self.measured_on}"
        )
        return text + (f". {self.note}" if self.note else "")


@dataclass(frozen=True)
class CrossValidation:
    """``folds`` grouped, stratified folds: each metric's mean and standard deviation over
    the folds (``figures``: name -> (mean, sd)), and the best epoch of each fold."""

    folds: int
    figures: tuple[tuple[str, float, float], ...]
    best_epochs: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            "figures": {name: {"mean": m, "sd": sd} for name, m, sd in self.figures},
            "best_epochs": list(self.best_epochs),
        }

    def describe(self) -> str:
        parts = [f"{name} {m:.3f} ± {sd:.3f}" for name, m, sd in self.figures]
        return f"{self.folds}-fold cross-validation (mean ± sd): " + ", ".join(parts)


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
    select_by: SelectBy = "balanced-accuracy"
    cross_validation: CrossValidation | None = None

    def summary(self) -> str:
        how = {"completed": "finished", "early_stopped": "stopped early", "cancelled": "cancelled"}
        lines = [
            f"training {how[self.stopped]} after {len(self.history)} epoch(s); "
            f"best epoch {self.best_epoch} ({selected(self.select_by)})",
            f"validation: {self.split.describe()}",
            self.metrics.table(),
            self.calibration.describe(),
        ]
        if self.cross_validation is not None:
            lines.insert(0, self.cross_validation.describe())
        if self.test_metrics is not None:
            lines += ["test set:", self.test_metrics.table()]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def selected(select_by: SelectBy) -> str:
    """How the kept epoch was chosen, in words."""
    return {
        "balanced-accuracy": "highest validation balanced accuracy, ties to the lower loss",
        "accuracy": "highest validation accuracy, ties to the lower loss",
        "loss": "lowest validation loss",
    }[select_by]
