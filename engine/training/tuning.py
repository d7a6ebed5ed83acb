"""Train a network that already exists (a student beside its teacher, a pruned model) on the
split another model recorded, and save it as ``train`` saves its models: what ``reslens
distill`` and ``reslens prune`` share.

:func:`engine.training.run.train` builds its own network, so this runs the epochs itself, but
only from the training package's public pieces: :func:`prepare.prepare_data` (scan, health,
split), :class:`prepare.TrainingParts` and the recipe's optimizer groups, ``LambdaLR``
schedule, loss, :func:`recipe.train_one_epoch` and :func:`recipe.evaluate`, the data module's
augmented batches, and :func:`outputs.build_result` for the model file, its records and the
HTML report. Augmentation, schedule, optimizer, early stopping and cancelling are therefore
``train``'s. Not supported: resuming (these runs are short; cancelling keeps the best epoch).
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
from engine.models.model_file import ModelInfo, load_model_file, save_model_file
from engine.training import recipe
from engine.training.data import ImageStore, epoch_order, eval_batches, train_batches
from engine.training.data import steps_per_epoch as count_steps
from engine.training.metrics import nll
from engine.training.outputs import BestModel, RunFacts, build_result
from engine.training.prepare import TrainingParts, prepare_data
from engine.training.recipe import Amp, Inputs, StartingPoint
from engine.training.records import EpochRecord, Stopped, TrainConfig, TrainResult
from engine.training.scan import DatasetScan
from engine.training.schedule import Schedule, make_scheduler
from engine.training.splits import DataSplit, fingerprint

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

EpochCallback = Callable[[EpochRecord], None]
EVAL_BATCH = 64


@dataclass(frozen=True)
class RecordedData:
    """A model's data set found again: its scan and exactly the split it was trained on."""

    scan: DatasetScan
    split: DataSplit


def recipe_of(extra: Mapping[str, Any], **changes: Any) -> TrainConfig:
    """The training settings a model file records, with ``changes`` applied."""
    saved = (extra.get("training") or {}).get("config") or {}
    return dataclasses.replace(TrainConfig.from_dict(saved), **changes)


def recorded_data(root: str | Path, extra: Mapping[str, Any], label: str) -> RecordedData:
    """Scan ``root`` and split it as the model file's records say; DatasetError when the data
    changed since (other files, or files moved between splits)."""
    recorded = (extra.get("split") or {}).get("files")
    if recorded is None:
        raise DatasetError(f"{label} records no training split, so its data cannot be reused.")
    scan, split = prepare_data(root, recipe_of(extra))
    if fingerprint(split.manifest(scan.root, scan.class_names)) != fingerprint(recorded):
        raise DatasetError(
            f"{root} is not the data {label} was trained on, or it changed since (files added, "
            "removed or edited); give the folder it was trained on."
        )
    return RecordedData(scan, split)


def parts_for(
    model: nn.Module, config: TrainConfig, data: RecordedData, spec: PreprocessSpec, device: str
) -> TrainingParts:
    """``train``'s optimizer (per-group rates, as from scratch) and loss for ``model``."""
    groups = recipe.param_groups(model, config.arch, config, False)
    labels = [s.label for s in data.split.train]
    criterion = recipe.make_criterion(labels, len(data.scan.class_names), config, device)
    optimizer = recipe.make_optimizer(groups, config)
    return TrainingParts(model, optimizer, criterion, Inputs(spec, device), Amp(device), device)


def tune(
    out: Path,
    parts: TrainingParts,
    data: RecordedData,
    config: TrainConfig,
    spec: PreprocessSpec,
    *,
    start: StartingPoint,
    cancel: CancelToken | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train ``parts.model`` for ``config.epochs`` on ``data.split.train`` with
    ``parts.criterion``, keep the epoch with the lowest validation loss (early stopping after
    ``config.patience`` epochs without a lower one), save it to ``out`` with its report."""
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    store = ImageStore(spec, budget_bytes=config.cache_mb * 2**20)
    store.preload(data.split.train, data.split.val + data.split.test, cancel=cancel)
    epochs = _Epochs(parts, data, config, store, cancel)
    stopped: Stopped = "completed"
    try:
        for epoch in range(1, config.epochs + 1):
            record = epochs.run(epoch)
            if on_epoch is not None:
                on_epoch(record)
            if config.patience and epochs.bad_epochs >= config.patience:
                stopped = "early_stopped"
                break
    except Cancelled:
        if epochs.best is None:
            raise
        stopped = "cancelled"
    best = epochs.require_best()
    test = None
    if data.split.test and stopped != "cancelled":
        parts.model.load_state_dict(best.state)
        test = epochs.evaluate(data.split.test)
    facts = RunFacts(
        start, spec, parts.device, tuple(epochs.history), (start.note,),
        time.perf_counter() - started,
    )  # fmt: skip
    return build_result(
        out, best, scan=data.scan, split=data.split, config=config, facts=facts,
        stopped=stopped, test=test, state_file=None, write_report=True,
    )  # fmt: skip


class _Epochs:
    """One epoch at a time: train, evaluate, keep the best weights."""

    def __init__(
        self,
        parts: TrainingParts,
        data: RecordedData,
        config: TrainConfig,
        store: ImageStore,
        cancel: CancelToken,
    ) -> None:
        self.parts, self.data, self.config, self.store, self.cancel = (
            parts, data, config, store, cancel,
        )  # fmt: skip
        self.steps = count_steps(len(data.split.train), config.batch_size)
        schedule = Schedule.for_run(self.steps, config.epochs)
        self.scheduler = make_scheduler(parts.optimizer, schedule)
        self.best: BestModel | None = None
        self.bad_epochs = 0
        self.history: list[EpochRecord] = []

    def run(self, epoch: int) -> EpochRecord:
        c, split, parts = self.config, self.data.split, self.parts
        started = time.perf_counter()
        recipe.set_phase(parts.model, c.arch, head_only=False)
        labels = np.asarray([s.label for s in split.train], dtype=np.int64)
        order = epoch_order(labels, seed=c.seed, epoch=epoch, balanced=c.balance == "sampler")
        batches = train_batches(
            self.store, split.train, order, batch_size=c.batch_size, seed=c.seed,
            epoch=epoch, color=not self.data.scan.grayscale, cancel=self.cancel,
        )  # fmt: skip
        with contextlib.closing(batches):
            loss_sum, correct, seen = recipe.train_one_epoch(
                parts.model, parts.criterion, parts.optimizer, batches, inputs=parts.inputs,
                amp=parts.amp, scheduler=self.scheduler, cancel=self.cancel,
            )  # fmt: skip
        seconds = time.perf_counter() - started
        val = self.evaluate(split.val)
        val_loss = nll(val.logits, val.labels)
        improved = self.best is None or val_loss < self.best.val_loss - 1e-6
        if improved:
            self.best = BestModel(epoch, val_loss, state_on_cpu(parts.model), val)
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        record = _record(epoch, (loss_sum, correct, seen), val, val_loss, seconds, improved)
        record = dataclasses.replace(record, lr=float(self.scheduler.get_last_lr()[0]))
        self.history.append(record)
        return record

    def evaluate(self, samples: tuple[Any, ...]) -> recipe.Evaluation:
        batches = eval_batches(self.store, samples, batch_size=EVAL_BATCH, cancel=self.cancel)
        with contextlib.closing(batches):
            return recipe.evaluate(
                self.parts.model, batches, inputs=self.parts.inputs, amp=self.parts.amp
            )

    def require_best(self) -> BestModel:
        if self.best is None:
            raise RuntimeError("no epoch has finished yet")
        return self.best


def _record(
    epoch: int,
    train: tuple[float, int, int],
    val: recipe.Evaluation,
    val_loss: float,
    seconds: float,
    improved: bool,
) -> EpochRecord:
    loss_sum, correct, seen = train
    predicted, labels = val.logits.argmax(axis=1), val.labels
    recalls = [np.mean(predicted[labels == k] == k) for k in np.unique(labels)]
    return EpochRecord(
        epoch=epoch,
        phase="full",
        train_loss=loss_sum / max(seen, 1),
        train_accuracy=correct / max(seen, 1),
        val_loss=val_loss,
        val_accuracy=float(np.mean(predicted == labels)),
        val_balanced_accuracy=float(np.mean(recalls)),
        lr=0.0,
        seconds=seconds,
        images_per_s=seen / max(seconds, 1e-9),
        improved=improved,
    )


def amend_card(path: Path, **changes: Any) -> None:
    """Rewrite ``path`` (atomically) with its card changed: ``source``, ``structure``,
    ``teacher``, or ``extra`` entries (``extra`` is merged, not replaced)."""
    state, info = load_model_file(path)
    fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(ModelInfo)}
    extra = dict(info.extra) | dict(changes.pop("extra", {}))
    save_model_file(path, state, ModelInfo(**(fields | changes | {"extra": extra})))


def state_on_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
