"""One training job from data set to model file: the loop, checkpoints, resume and results.

Used through :func:`engine.training.recipe.train`. A :class:`TrainingRun` lives on one thread (the
training thread); what it reports leaves as frozen :class:`TrainProgress` records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from engine.errors import Cancelled, DatasetError, EngineError
from engine.imaging.preprocess import PreprocessSpec
from engine.jobs import CancelToken, ProgressMeter
from engine.models.model_file import MODEL_SUFFIX, load_model_file
from engine.training.data import (
    ImageStore,
    epoch_order,
    eval_batches,
    steps_per_epoch,
    train_batches,
)
from engine.training.health import assess
from engine.training.metrics import nll
from engine.training.recipe import (
    Amp,
    Inputs,
    ProgressCallback,
    StartingPoint,
    build_network,
    evaluate,
    lr_factor,
    make_optimizer,
    param_groups,
    preprocess_for,
    resolve_start,
    set_phase,
    train_one_epoch,
)
from engine.training.records import (
    EpochRecord,
    Phase,
    Stopped,
    TrainConfig,
    TrainProgress,
    TrainResult,
)
from engine.training.scan import DatasetScan, scan_dataset
from engine.training.splits import fingerprint, split_dataset
from engine.training.state import TrainingState, load_state, save_state, state_path

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 60.0
"""Longest time between saves of the best model and the resumable state while training
(they are always saved on cancel and at the end)."""
_EVAL_BATCH = 64


@dataclass
class _Best:
    epoch: int
    val_loss: float
    state: dict[str, torch.Tensor]
    logits: np.ndarray | None = None  # validation logits of these weights (None after resume)
    labels: np.ndarray | None = None  # their true labels (N,)
    indices: np.ndarray | None = None  # their positions in split.val (N,)
    saved: bool = False


@dataclass
class _Position:
    """How far the run is: finished epochs, optimizer steps, and the epoch in progress."""

    epoch: int = 0
    step: int = 0
    epoch_step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    bad_epochs: int = 0
    seconds: float = 0.0


class TrainingRun:
    """Scan, split, build, train, checkpoint and report; see :func:`engine.training.recipe.train`."""

    def __init__(
        self,
        out: Path,
        config: TrainConfig,
        *,
        resume: bool,
        cancel: CancelToken | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        if out.suffix.lower() != MODEL_SUFFIX:
            raise EngineError(f"The model file name must end in {MODEL_SUFFIX}: {out}")
        self.out, self.state_file = out, state_path(out)
        self.saved = load_state(self.state_file) if resume else None
        if self.saved is not None:
            saved_config = TrainConfig.from_dict(self.saved.meta["config"])
            config = dataclasses.replace(saved_config, device=config.device)
        self.config = config
        self.cancel = cancel or CancelToken()
        self.on_progress = on_progress
        self.history: list[EpochRecord] = []
        self.best: _Best | None = None
        self.pos = _Position()
        self.notes: list[str] = []
        self._last_checkpoint = time.monotonic()
        self._started = time.perf_counter()

    # --- set-up ---------------------------------------------------------------------------

    def execute(
        self, data: str | Path | DatasetScan, *, start: StartingPoint | None, write_report: bool
    ) -> TrainResult:
        self._prepare_data(data)
        self._prepare_model(start)
        try:
            stopped = self._loop()
        except Cancelled:
            if self.pos.step > 0:
                self._save_state()
            if self.best is None:
                raise Cancelled(
                    "Training cancelled before the first epoch finished; no model was saved."
                ) from None
            return self._finish("cancelled", write_report)
        return self._finish(stopped, write_report)

    def _prepare_data(self, data: str | Path | DatasetScan) -> None:
        if isinstance(data, DatasetScan):
            self.scan = data
        else:
            self.scan = scan_dataset(
                data,
                cancel=self.cancel,
                on_progress=lambda p: self._emit(
                    "preparing", step=p.done, steps=p.total or 0, message="checking images"
                ),
            )
        assess(self.scan).raise_if_unusable()
        c = self.config
        self.split = split_dataset(
            self.scan, val_fraction=c.val_fraction, test_fraction=c.test_fraction, seed=c.seed
        )
        self.manifest = self.split.manifest(self.scan.root, self.scan.class_names)
        if self.saved is not None and fingerprint(self.manifest) != self.saved.meta["split"]:
            raise DatasetError(
                f"The data set changed since this training started (files added, removed or "
                f"edited in {self.scan.root}); it cannot be resumed. Start a new training."
            )
        if self.scan.unreadable:
            self.notes.append(f"{len(self.scan.unreadable)} unreadable image(s) were left out.")

    def _prepare_model(self, start: StartingPoint | None) -> None:
        import torch

        from engine.runtime.backends.torch_backend import resolve_device

        c = self.config
        if self.saved is not None:
            meta = self.saved.meta
            start = StartingPoint(bool(meta["pretrained"]), None, meta["start_note"])
            self.spec = PreprocessSpec.from_dict(meta["preprocess"])
        else:
            start = start or resolve_start(c, cancel=self.cancel)
            self.spec = preprocess_for(c, start)
        self.start = start
        self.notes.insert(0, start.note)
        self.device = resolve_device(c.device)
        names = self.scan.class_names
        model = build_network(c.arch, len(names), start, c.seed)
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(param_groups(self.model, c.arch, c, start.pretrained), c)
        self.criterion = self._criterion()
        self.inputs, self.amp = Inputs(self.spec, self.device), Amp(self.device)
        self.store = ImageStore(self.spec, budget_bytes=c.cache_mb * 2**20)
        self.store.preload(
            self.split.train,
            self.split.val + self.split.test,
            cancel=self.cancel,
            on_progress=lambda done, total: self._emit(
                "preparing", step=done, steps=total, message="decoding images"
            ),
        )
        if self.saved is not None:
            self._restore(self.saved)
            self.saved = None  # free its tensors

    def _criterion(self) -> torch.nn.Module:
        """Cross-entropy with label smoothing; class weights N / (K * n_k) when balancing."""
        import torch

        c, k = self.config, len(self.scan.class_names)
        weights = None
        if c.balance == "loss":
            counts = np.bincount([s.label for s in self.split.train], minlength=k)
            share = len(self.split.train) / (k * counts)
            weights = torch.tensor(share, dtype=torch.float32, device=self.device)
        return torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=c.label_smoothing)

    def _restore(self, saved: TrainingState) -> None:
        meta = saved.meta
        self.model.load_state_dict(saved.model)
        self.optimizer.load_state_dict(saved.optimizer)
        if self.amp.scaler is not None and meta.get("scaler"):
            self.amp.scaler.load_state_dict(meta["scaler"])
        self.pos = _Position(**meta["position"])
        self.history = [EpochRecord.from_dict(r) for r in meta["history"]]
        if meta.get("best_epoch") and self.out.is_file():
            state, _ = load_model_file(self.out)
            self.best = _Best(meta["best_epoch"], meta["best_val_loss"], state, saved=True)
        self.notes.append(f"Resumed after {self.pos.step} steps (epoch {self.pos.epoch + 1}).")

    # --- the loop -------------------------------------------------------------------------

    def _loop(self) -> Stopped:
        c = self.config
        self.steps = steps_per_epoch(len(self.split.train), c.batch_size)
        total = self.steps * c.epochs
        self.warmup = max(1, min(self.steps, total // 10))
        self.total_steps = total
        remaining = (total - self.pos.step) * c.batch_size
        self.meter = ProgressMeter(remaining)
        self._eval_s = 0.0
        for epoch in range(self.pos.epoch + 1, c.epochs + 1):
            self._run_epoch(epoch)
            if c.patience and self.pos.bad_epochs >= c.patience and epoch < c.epochs:
                self.notes.append(
                    f"Stopped early after epoch {epoch}: validation loss did not improve for "
                    f"{c.patience} epochs."
                )
                return "early_stopped"
        return "completed"

    def _run_epoch(self, epoch: int) -> None:
        c, p = self.config, self.pos
        head_only = epoch <= c.head_epochs_for(self.start.pretrained)
        set_phase(self.model, c.arch, head_only=head_only)
        labels = np.asarray([s.label for s in self.split.train], dtype=np.int64)
        order = epoch_order(labels, seed=c.seed, epoch=epoch, balanced=c.balance == "sampler")
        batches = train_batches(
            self.store,
            self.split.train,
            order,
            batch_size=c.batch_size,
            seed=c.seed,
            epoch=epoch,
            color=not self.scan.grayscale,
            start_step=p.epoch_step,
            cancel=self.cancel,
        )
        base = (p.epoch_step, p.loss_sum, p.correct, p.seen)
        started = time.perf_counter()

        def on_step(step: int, loss_sum: float, correct: int, seen: int) -> None:
            new_images = base[3] + seen - p.seen
            p.step += 1
            p.epoch_step, p.loss_sum = base[0] + step, base[1] + loss_sum
            p.correct, p.seen = base[2] + correct, base[3] + seen
            progress = self.meter.advance(new_images)
            eta = self._eta(progress.eta_s, epoch)
            loss = p.loss_sum / p.seen
            self._emit("training", epoch, p.epoch_step, self.steps, loss, progress.rate, eta)

        with contextlib.closing(batches):
            train_one_epoch(
                self.model,
                self.criterion,
                self.optimizer,
                batches,
                inputs=self.inputs,
                amp=self.amp,
                before_step=self._set_lr,
                on_step=on_step,
                cancel=self.cancel,
            )
        rate = (p.seen - base[3]) / max(time.perf_counter() - started, 1e-9)
        self._end_epoch(epoch, "head" if head_only else "full", started, rate)

    def _set_lr(self) -> None:
        factor = lr_factor(self.pos.step, self.total_steps, self.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.base_lr * group["lr_mult"] * factor

    def _end_epoch(
        self, epoch: int, phase: Literal["head", "full"], started: float, rate: float
    ) -> None:
        self._emit("evaluating", epoch, self.steps, self.steps)
        eval_started = time.perf_counter()
        logits, labels, indices = self._evaluate(self.split.val)
        self._eval_s = time.perf_counter() - eval_started
        val_loss = nll(logits, labels)
        improved = self.best is None or val_loss < self.best.val_loss - 1e-6
        p, predicted = self.pos, logits.argmax(axis=1)
        recalls = [np.mean(predicted[labels == k] == k) for k in np.unique(labels)]
        head = self.optimizer.param_groups[0]
        record = EpochRecord(
            epoch=epoch,
            phase=phase,
            train_loss=p.loss_sum / max(p.seen, 1),
            train_accuracy=p.correct / max(p.seen, 1),
            val_loss=val_loss,
            val_accuracy=float(np.mean(predicted == labels)),
            val_balanced_accuracy=float(np.mean(recalls)),
            lr=head["lr"] / head["lr_mult"],
            seconds=time.perf_counter() - started,
            images_per_s=rate,
            improved=improved,
        )
        self.history.append(record)
        if improved:
            state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            self.best = _Best(epoch, val_loss, state, logits, labels, indices)
        p.bad_epochs = 0 if improved else p.bad_epochs + 1
        p.epoch, p.epoch_step, p.loss_sum, p.correct, p.seen = epoch, 0, 0.0, 0, 0
        if time.monotonic() - self._last_checkpoint >= CHECKPOINT_INTERVAL_S:
            self._save_state()
            self._save_model(None)
        eta = self._eta(self.meter.snapshot().eta_s, epoch + 1)
        self._emit("epoch", epoch, self.steps, self.steps, rate=rate, eta=eta)

    def _evaluate(self, samples: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits (N, K), labels (N,) and positions in ``samples`` (N,), unreadable left out."""
        batches = eval_batches(self.store, samples, batch_size=_EVAL_BATCH, cancel=self.cancel)
        with contextlib.closing(batches):
            return evaluate(self.model, batches, inputs=self.inputs, amp=self.amp)

    # --- reporting ------------------------------------------------------------------------

    def _eta(self, train_eta: float | None, epoch: int) -> float | None:
        if train_eta is None:
            return None
        return train_eta + self._eval_s * (self.config.epochs - epoch + 1)

    def _emit(
        self,
        phase: Phase,
        epoch: int = 0,
        step: int = 0,
        steps: int = 0,
        loss: float | None = None,
        rate: float = 0.0,
        eta: float | None = None,
        message: str = "",
    ) -> None:
        if self.on_progress is None:
            return
        history = tuple(self.history)
        epochs = self.config.epochs
        report = TrainProgress(phase, epoch, epochs, step, steps, loss, rate, eta, message, history)
        self.on_progress(report)

    # --- saving ---------------------------------------------------------------------------

    def _save_state(self) -> None:
        meta = {
            "config": self.config.to_dict(),
            "pretrained": self.start.pretrained,
            "start_note": self.start.note,
            "preprocess": self.spec.to_dict(),
            "split": fingerprint(self.manifest),
            "position": dataclasses.asdict(self.pos) | {"seconds": self.elapsed_s},
            "history": [r.to_dict() for r in self.history],
            "best_epoch": self.best.epoch if self.best else None,
            "best_val_loss": self.best.val_loss if self.best else None,
            "scaler": self.amp.scaler.state_dict() if self.amp.scaler is not None else None,
        }
        save_state(self.state_file, self.model.state_dict(), self.optimizer.state_dict(), meta)
        self._last_checkpoint = time.monotonic()

    def _save_model(self, stopped: Stopped | None) -> None:
        from engine.training.outputs import save_trained_model

        if self.best is not None and not (self.best.saved and stopped is None):
            save_trained_model(self, stopped)
            self.best.saved = True

    def _finish(self, stopped: Stopped, write_report: bool) -> TrainResult:
        from engine.training.outputs import build_result

        result = build_result(self, stopped, write_report=write_report)
        if stopped != "cancelled":
            with contextlib.suppress(FileNotFoundError):
                self.state_file.unlink()
        self._emit("finished", len(self.history), self.steps, self.steps, message=stopped)
        return result

    @property
    def elapsed_s(self) -> float:
        return self.pos.seconds + time.perf_counter() - self._started

    def best_validation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validation logits, labels and positions of the best weights (evaluated again after
        a resume, when only the weights were saved)."""
        best = self.require_best()
        if best.logits is None or best.labels is None or best.indices is None:
            best.logits, best.labels, best.indices = self.evaluate_best(self.split.val)
        return best.logits, best.labels, best.indices

    def evaluate_best(self, samples: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evaluate ``samples`` with the best weights (the training weights are replaced)."""
        self.model.load_state_dict(self.require_best().state)
        return self._evaluate(samples)

    def require_best(self) -> _Best:
        if self.best is None:
            raise RuntimeError("no epoch has finished yet")
        return self.best
