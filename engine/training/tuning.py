"""Train a network that already exists (a student next to its teacher, a pruned model) on the
split another model recorded: what ``reslens distill`` and ``reslens prune`` share.

Built from the training recipe's public pieces (:func:`recipe.param_groups`,
:func:`recipe.make_optimizer`, :func:`recipe.lr_factor`, :func:`recipe.train_one_epoch`,
:func:`recipe.evaluate`, the data module's augmentation and batches), so the augmentation,
schedule (linear warm-up, cosine decay), optimizer and early stopping are those of ``train``.
Not supported here: resuming (a run is short; cancelling keeps the best epoch so far).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import Cancelled, DatasetError
from engine.imaging.preprocess import PreprocessSpec
from engine.jobs import CancelToken
from engine.training.data import ImageStore, epoch_order, eval_batches, train_batches
from engine.training.data import steps_per_epoch as count_steps
from engine.training.health import assess
from engine.training.metrics import classification_metrics, fit_temperature, nll
from engine.training.recipe import (
    Amp,
    Inputs,
    evaluate,
    lr_factor,
    make_optimizer,
    param_groups,
    set_phase,
    train_one_epoch,
)
from engine.training.records import TrainConfig
from engine.training.scan import DatasetScan, scan_dataset
from engine.training.splits import DataSplit, fingerprint, split_dataset

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

EpochCallback = Callable[[dict[str, Any]], None]
"""Called after each epoch with its record (epoch, losses, accuracies, seconds)."""


@dataclass(frozen=True)
class RecordedData:
    """A model's data set found again: its scan and exactly the split it was trained on."""

    scan: DatasetScan
    split: DataSplit


@dataclass(frozen=True)
class Tuned:
    """The best epoch of a short training: weights, validation logits and what was measured."""

    state: dict[str, torch.Tensor]
    epoch: int
    val_logits: np.ndarray
    val_labels: np.ndarray
    history: tuple[dict[str, Any], ...]
    seconds: float
    stopped: str

    def records(self, data: RecordedData, config: TrainConfig) -> dict[str, Any]:
        """Metrics, calibration, split and history for a model file's ``extra``."""
        names = data.scan.class_names
        temperature = fit_temperature(self.val_logits, self.val_labels)
        metrics = classification_metrics(
            self.val_logits, self.val_labels, names, temperature=temperature
        )
        return {
            "training": {
                "config": config.to_dict(),
                "seed": config.seed,
                "best_epoch": self.epoch,
                "stopped": self.stopped,
                "seconds": round(self.seconds, 1),
            },
            "dataset": {"root": str(data.scan.root), "class_counts": data.scan.counts()},
            "split": data.split.to_dict(data.scan.root, names),
            "metrics": {"val": metrics.to_dict(), "test": None},
            "history": list(self.history),
            "temperature": temperature,
        }


def recorded_data(root: str | Path, extra: Mapping[str, Any], label: str) -> RecordedData:
    """Scan ``root`` and split it as the model file's records say; DatasetError when the data
    changed since (other files, or files moved between splits)."""
    scan = scan_dataset(root)
    assess(scan).raise_if_unusable()
    config = TrainConfig.from_dict((extra.get("training") or {}).get("config") or {})
    split = split_dataset(
        scan,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    recorded = (extra.get("split") or {}).get("files")
    if recorded is None:
        raise DatasetError(f"{label} records no training split, so its data cannot be reused.")
    if fingerprint(split.manifest(scan.root, scan.class_names)) != fingerprint(recorded):
        raise DatasetError(
            f"{root} is not the data {label} was trained on, or it changed since (files added, "
            "removed or edited); give the folder it was trained on."
        )
    return RecordedData(scan, split)


def recipe_of(extra: Mapping[str, Any], **changes: Any) -> TrainConfig:
    """The training settings a model file records, with ``changes`` applied."""
    saved = (extra.get("training") or {}).get("config") or {}
    return dataclasses.replace(TrainConfig.from_dict(saved), **changes)


def label_loss(config: TrainConfig, data: RecordedData, device: str) -> nn.Module:
    """``train``'s loss: cross-entropy with label smoothing, class-weighted when balancing."""
    import torch

    weights = None
    if config.balance == "loss":
        k = len(data.scan.class_names)
        counts = np.bincount([s.label for s in data.split.train], minlength=k)
        share = len(data.split.train) / (k * np.maximum(counts, 1))
        weights = torch.tensor(share, dtype=torch.float32, device=device)
    return torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)


def tune(
    model: nn.Module,
    data: RecordedData,
    spec: PreprocessSpec,
    config: TrainConfig,
    criterion: nn.Module,
    *,
    device: str,
    cancel: CancelToken | None = None,
    on_epoch: EpochCallback | None = None,
) -> Tuned:
    """Train ``model`` (already on ``device``) for ``config.epochs`` on ``data.split.train``,
    keeping the epoch with the lowest validation loss; stops early after ``config.patience``
    epochs without improvement. ``criterion(logits, labels)`` is the loss to minimise."""
    cancel = cancel or CancelToken()
    store = ImageStore(spec, budget_bytes=config.cache_mb * 2**20)
    store.preload(data.split.train, data.split.val, cancel=cancel)
    loop = _Loop(model, data, config, criterion, store, Inputs(spec, device), Amp(device))
    started = time.perf_counter()
    stopped = "completed"
    try:
        for epoch in range(1, config.epochs + 1):
            record = loop.epoch(epoch, cancel)
            if on_epoch is not None:
                on_epoch(record)
            if config.patience and loop.bad_epochs >= config.patience:
                stopped = "early_stopped"
                break
    except Cancelled:
        if loop.best is None:
            raise
        stopped = "cancelled"
    if loop.best is None:
        raise RuntimeError("no epoch ran")
    state, epoch, logits, labels = loop.best
    return Tuned(
        state, epoch, logits, labels, tuple(loop.history), time.perf_counter() - started, stopped
    )


class _Loop:
    """The epoch loop's state: optimizer, schedule position, best weights so far."""

    def __init__(
        self,
        model: nn.Module,
        data: RecordedData,
        config: TrainConfig,
        criterion: nn.Module,
        store: ImageStore,
        inputs: Inputs,
        amp: Amp,
    ) -> None:
        self.model, self.data, self.config, self.criterion = model, data, config, criterion
        self.store, self.inputs, self.amp = store, inputs, amp
        self.optimizer = make_optimizer(param_groups(model, config.arch, config, False), config)
        self.steps = count_steps(len(data.split.train), config.batch_size)
        self.total = self.steps * config.epochs
        self.warmup = max(1, min(self.steps, self.total // 10))
        self.step = 0
        self.best: tuple[dict[str, torch.Tensor], int, np.ndarray, np.ndarray] | None = None
        self.best_loss = float("inf")
        self.bad_epochs = 0
        self.history: list[dict[str, Any]] = []

    def set_lr(self) -> None:
        factor = lr_factor(self.step, self.total, self.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.base_lr * group["lr_mult"] * factor
        self.step += 1

    def epoch(self, epoch: int, cancel: CancelToken) -> dict[str, Any]:
        c, split = self.config, self.data.split
        started = time.perf_counter()
        set_phase(self.model, c.arch, head_only=False)
        labels = np.asarray([s.label for s in split.train], dtype=np.int64)
        order = epoch_order(labels, seed=c.seed, epoch=epoch, balanced=c.balance == "sampler")
        color = not self.data.scan.grayscale
        batches = train_batches(
            self.store, split.train, order, batch_size=c.batch_size, seed=c.seed,
            epoch=epoch, color=color, cancel=cancel,
        )  # fmt: skip
        with contextlib.closing(batches):
            loss_sum, correct, seen = train_one_epoch(
                self.model, self.criterion, self.optimizer, batches,
                inputs=self.inputs, amp=self.amp, before_step=self.set_lr, cancel=cancel,
            )  # fmt: skip
        val = eval_batches(self.store, split.val, batch_size=64, cancel=cancel)
        with contextlib.closing(val):
            logits, y, _ = evaluate(self.model, val, inputs=self.inputs, amp=self.amp)
        val_loss = nll(logits, y)
        improved = val_loss < self.best_loss - 1e-6
        if improved:
            state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            self.best, self.best_loss = (state, epoch, logits, y), val_loss
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "val_loss": val_loss,
            "val_accuracy": float(np.mean(logits.argmax(1) == y)),
            "seconds": round(time.perf_counter() - started, 2),
            "improved": improved,
        }
        self.history.append(record)
        log.info("epoch %d: %s", epoch, record)
        return record
