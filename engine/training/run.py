"""Fine-tune a residual network on a labelled folder: :func:`train` and the loop it runs.

>>> result = train("data/", "model.reslens", TrainConfig(epochs=5, image_size=128))  # doctest: +SKIP
>>> print(result.summary())                                                            # doctest: +SKIP

Read top to bottom: :func:`train` makes a :class:`TrainingRun`, which prepares the data (scan,
health, split), then the model (the pieces of :mod:`engine.training.recipe`), runs the epochs
(one epoch of training, evaluation on the validation split, keep the best weights, checkpoint
now and then), and leaves the model file, report and result (:mod:`engine.training.outputs`).
The epoch kept, and early stopping, go by ``config.select_by`` (balanced accuracy unless
told otherwise). On the CPU a given seed gives the same model every time,
and a resumed run the same model as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine.errors import Cancelled, DatasetError, EngineError
from engine.imaging.preprocess import PreprocessSpec
from engine.jobs import CancelToken, ProgressMeter
from engine.models.model_file import MODEL_SUFFIX, load_model_file
from engine.training import distributed, recipe
from engine.training.checkpoint import restore_checkpoint, save_checkpoint
from engine.training.crossval import train_cross_validated
from engine.training.data import (
    ImageStore,
    epoch_order,
    eval_batches,
    steps_per_epoch,
    train_batches,
)
from engine.training.outputs import BestModel, HeldOut, RunFacts, build_result, save_trained_model
from engine.training.prepare import build_parts, positive_index, prepare_data
from engine.training.recipe import Evaluation, ProgressCallback, StartingPoint
from engine.training.records import (
    EpochRecord,
    Phase,
    Stopped,
    TrainConfig,
    TrainProgress,
    TrainResult,
)
from engine.training.scan import DatasetScan, Sample
from engine.training.schedule import Schedule, make_scheduler
from engine.training.splits import DataSplit, fingerprint
from engine.training.state import Position, TrainingState, load_state, state_path

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 60.0
"""Longest time between saves of the best model and the resumable state while training
(they are always saved on cancel and at the end)."""
EVAL_BATCH = 64


def train(
    data: str | Path | DatasetScan,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    start: StartingPoint | None = None,
    cancel: CancelToken | None = None,
    on_progress: ProgressCallback | None = None,
    write_report: bool = True,
) -> TrainResult:
    """Train on the labelled folder ``data`` (or its scan) and write the model to ``out``.

    Writes ``out`` (a ``.reslens`` model file, atomically), a report beside it
    (``out`` with suffix ``.report.html``) and, while the run is unfinished, a training state
    (``out.state``) that ``resume=True`` continues from with the settings saved in it.
    ``start`` is the result of :func:`resolve_start` if the caller already has it. With
    ``config.folds`` >= 2 it cross-validates first (:mod:`engine.training.crossval`).

    Raises :class:`DatasetError` for an unusable data set, :class:`WeightsNotFoundError`
    when ``config.pretrained`` is True and no weights can be had, and :class:`Cancelled` when
    cancelled before a model exists. Cancelled later, it returns with ``stopped="cancelled"``
    after saving the best model so far and the state to resume from.
    """
    config = config or TrainConfig()
    if config.folds:
        if resume:
            raise EngineError("A cross-validated training cannot be resumed; start it again.")

        def run_split(
            scan: DatasetScan, split: DataSplit, path: Path, c: TrainConfig, held: HeldOut | None
        ) -> tuple[TrainResult, BestModel]:
            run = TrainingRun(path, c, resume=False, cancel=cancel, on_progress=on_progress)
            report = write_report and held is not None  # the fold models leave no report
            result = run.execute(scan, start=start, write_report=report, split=split, held=held)
            return result, run.require_best()

        return train_cross_validated(data, Path(out), config, run_split=run_split, cancel=cancel)
    run = TrainingRun(Path(out), config, resume=resume, cancel=cancel, on_progress=on_progress)
    return run.execute(data, start=start, write_report=write_report)


class TrainingRun:
    """Scan, split, build, train, checkpoint and report; see :func:`train`.

    Lives on one thread (the training thread); what it reports leaves as frozen
    :class:`TrainProgress` records.
    """

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
        self.world, self.config = distributed.join_run(config, resumed=self.saved is not None)
        self.requested, self.cancel = distributed.stop_tokens(self.world, cancel or CancelToken())
        self.on_progress = on_progress
        self.history: list[EpochRecord] = []
        self.best: BestModel | None = None
        self.best_saved = False
        self.pos = Position()
        self.notes: list[str] = []
        self._last_checkpoint = time.monotonic()
        self._started = time.perf_counter()
        self._eval_s = 0.0

    def execute(
        self,
        data: str | Path | DatasetScan,
        *,
        start: StartingPoint | None,
        write_report: bool,
        split: DataSplit | None = None,
        held: HeldOut | None = None,
    ) -> TrainResult:
        """Train on ``data`` split as the config says (or as ``split``); ``held``: validation
        outputs from elsewhere when ``split`` has no validation images."""
        self.held = held
        self._prepare_data(data, split)
        self._prepare_model(start)
        try:
            stopped = self._loop()
        except Cancelled:
            if self.pos.step > 0 and self.world.is_main:  # rank 0 writes for all
                self._save_state()
            if self.best is None:
                raise Cancelled(
                    "Training cancelled before the first epoch finished; no model was saved."
                ) from None
            return self._finish("cancelled", write_report)
        return self._finish(stopped, write_report)

    # --- set-up ---------------------------------------------------------------------------

    def _prepare_data(self, data: str | Path | DatasetScan, split: DataSplit | None) -> None:
        def report(done: int, total: int) -> None:
            self._emit("preparing", step=done, steps=total, message="checking images")

        self.scan, self.split = prepare_data(
            data, self.config, cancel=self.cancel, on_progress=report
        )
        self.split = split or self.split
        self.manifest = self.split.manifest(self.scan.root, self.scan.class_names)
        if self.saved is not None and fingerprint(self.manifest) != self.saved.meta["split"]:
            raise DatasetError(
                f"The data set changed since this training started (files added, removed or "
                f"edited in {self.scan.root}); it cannot be resumed. Start a new training."
            )
        if self.scan.unreadable:
            self.notes.append(f"{len(self.scan.unreadable)} unreadable image(s) were left out.")
        self.notes += self.split.notes
        self.positive = positive_index(self.config, self.scan)

    def _prepare_model(self, start: StartingPoint | None) -> None:
        c = self.config
        if self.saved is not None:
            meta = self.saved.meta
            start = StartingPoint(bool(meta["pretrained"]), None, meta["start_note"])
            self.spec = PreprocessSpec.from_dict(meta["preprocess"])
        else:
            start = start or recipe.resolve_start(c, cancel=self.cancel)
            self.spec = recipe.preprocess_for(c, start)
        self.start = start
        self.notes.insert(0, start.note)
        labels = [s.label for s in self.split.train]
        parts = build_parts(
            c, num_classes=len(self.scan.class_names), train_labels=labels, start=start,
            spec=self.spec,
        )  # fmt: skip
        self.parts, self.model, self.optimizer = parts, parts.model, parts.optimizer
        self.ddp = distributed.PhaseWrapper(self.world)
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

    def _restore(self, saved: TrainingState) -> None:
        resumed = restore_checkpoint(saved, self.parts, self.config)
        self.pos, self.history = resumed.position, list(resumed.history)
        if resumed.best_epoch and resumed.best_val_loss is not None and self.out.is_file():
            state, _ = load_model_file(self.out)
            self.model.load_state_dict(state)  # its validation outputs, then back to training
            val = self._evaluate(self.split.val)
            self.model.load_state_dict(saved.model)
            key = recipe.selection_key(self.history[resumed.best_epoch - 1], self.config.select_by)
            self.best = BestModel(resumed.best_epoch, resumed.best_val_loss, state, val, key)
            self.best_saved = True
        self.notes.append(f"Resumed after {self.pos.step} steps (epoch {self.pos.epoch + 1}).")

    # --- the loop -------------------------------------------------------------------------

    def _loop(self) -> Stopped:
        c = self.config
        self.steps = steps_per_epoch(self.world.shard_length(len(self.split.train)), c.batch_size)
        self.scheduler = make_scheduler(
            self.optimizer, Schedule.for_run(self.steps, c.epochs), start_step=self.pos.step
        )
        self.meter = ProgressMeter((self.steps * c.epochs - self.pos.step) * c.batch_size)
        for epoch in range(self.pos.epoch + 1, c.epochs + 1):
            self._run_epoch(epoch)
            if c.patience and self.pos.bad_epochs >= c.patience and epoch < c.epochs:
                figure = c.select_by.replace("-", " ")
                self.notes.append(
                    f"Stopped early after epoch {epoch}: validation {figure} did not improve "
                    f"for {c.patience} epochs."
                )
                return "early_stopped"
        return "completed"

    def _run_epoch(self, epoch: int) -> None:
        c, p = self.config, self.pos
        head_only = epoch <= c.head_epochs_for(self.start.pretrained)
        recipe.set_phase(self.model, c.arch, head_only=head_only)
        labels = np.asarray([s.label for s in self.split.train], dtype=np.int64)
        order = epoch_order(labels, seed=c.seed, epoch=epoch, balanced=c.balance == "sampler")
        order = self.world.shard(order)
        trained = self.ddp(self.model, phase=head_only)
        batches = train_batches(
            self.store, self.split.train, order, batch_size=c.batch_size, seed=c.seed,
            epoch=epoch, color=not self.scan.grayscale, start_step=p.epoch_step,
            cancel=self.cancel,
        )  # fmt: skip
        base = (p.epoch_step, p.loss_sum, p.correct, p.seen)
        started = time.perf_counter()

        def on_step(step: int, loss_sum: float, correct: int, seen: int) -> None:
            new_images = base[3] + seen - p.seen
            p.step += 1
            p.epoch_step, p.loss_sum = base[0] + step, base[1] + loss_sum
            p.correct, p.seen = base[2] + correct, base[3] + seen
            self.world.pass_on_stop(self.requested, self.cancel)
            progress = self.meter.advance(new_images)
            eta = self._eta(progress.eta_s, epoch)
            loss = p.loss_sum / p.seen
            self._emit(
                "training", epoch, p.epoch_step, self.steps, loss=loss,
                images_per_s=progress.rate, eta_s=eta,
            )  # fmt: skip

        with contextlib.closing(batches):
            recipe.train_one_epoch(
                trained, self.parts.criterion, self.optimizer, batches, inputs=self.parts.inputs,
                amp=self.parts.amp, scheduler=self.scheduler, on_step=on_step, cancel=self.cancel,
            )  # fmt: skip
        p.loss_sum, p.correct, p.seen = self.world.sum_counts(p.loss_sum, p.correct, p.seen)
        rate = (p.seen - base[3]) / max(time.perf_counter() - started, 1e-9)
        self._end_epoch(epoch, "head" if head_only else "full", started, rate)

    def _end_epoch(
        self, epoch: int, phase: Literal["head", "full"], started: float, rate: float
    ) -> None:
        self._emit("evaluating", epoch, self.steps, self.steps)
        eval_started = time.perf_counter()
        val = self._evaluate(self.split.val)
        self._eval_s = time.perf_counter() - eval_started
        p = self.pos
        record = recipe.epoch_record(
            epoch, phase, train=(p.loss_sum, p.correct, p.seen), val=val,
            lr=recipe.head_lr(self.optimizer, self.scheduler),
            seconds=time.perf_counter() - started, images_per_s=rate,
        )  # fmt: skip
        key = recipe.selection_key(record, self.config.select_by)
        # Without a validation split (the final model of cross-validation) the last epoch wins.
        improved = not self.split.val or recipe.improves(key, self.best.key if self.best else None)
        self.history.append(dataclasses.replace(record, improved=improved))
        if improved:
            state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            best = BestModel(epoch, record.val_loss, state, val, key)
            self.best, self.best_saved = best, False
        p.bad_epochs = 0 if improved else p.bad_epochs + 1
        p.epoch, p.epoch_step, p.loss_sum, p.correct, p.seen = epoch, 0, 0.0, 0, 0
        if self.world.is_main and time.monotonic() - self._last_checkpoint >= CHECKPOINT_INTERVAL_S:
            self._save_state()
            self._save_model()
        eta = self._eta(self.meter.snapshot().eta_s, epoch + 1)
        self._emit("epoch", epoch, self.steps, self.steps, images_per_s=rate, eta_s=eta)

    def _evaluate(self, samples: tuple[Sample, ...]) -> Evaluation:
        share = self.world.eval_share(samples)  # all of them on one process
        batches = eval_batches(self.store, share, batch_size=EVAL_BATCH, cancel=self.cancel)
        with contextlib.closing(batches):
            got = recipe.evaluate(self.model, batches, inputs=self.parts.inputs, amp=self.parts.amp)
        return self.world.gather_evaluation(got)

    # --- reporting ------------------------------------------------------------------------

    def _eta(self, train_eta: float | None, epoch: int) -> float | None:
        if train_eta is None:
            return None
        return train_eta + self._eval_s * (self.config.epochs - epoch + 1)

    def _emit(
        self, phase: Phase, epoch: int = 0, step: int = 0, steps: int = 0, **more: Any
    ) -> None:
        """Report progress; ``more``: loss, images_per_s, eta_s, message (see TrainProgress)."""
        if self.on_progress is not None and self.world.is_main:
            history = tuple(self.history)
            epochs = self.config.epochs
            self.on_progress(
                TrainProgress(phase, epoch, epochs, step, steps, history=history, **more)
            )

    # --- saving ---------------------------------------------------------------------------

    def _save_state(self) -> None:
        save_checkpoint(
            self.state_file, self.parts, config=self.config, start=self.start, spec=self.spec,
            split_fingerprint=fingerprint(self.manifest), position=self.pos,
            seconds=self.elapsed_s, history=self.history, best=self.best,
        )  # fmt: skip
        self._last_checkpoint = time.monotonic()

    def _save_model(self) -> None:
        """Save the best model so far, unless it is saved already."""
        if self.best is not None and not self.best_saved and self.world.is_main:
            save_trained_model(
                self.out, self.best, scan=self.scan, split=self.split, config=self.config,
                facts=self._facts(), stopped=None,
            )  # fmt: skip
            self.best_saved = True

    def _finish(self, stopped: Stopped, write_report: bool) -> TrainResult:
        best = self.require_best()
        test = None
        if self.split.test and stopped != "cancelled":
            self.model.load_state_dict(best.state)
            test = self._evaluate(self.split.test)
        result = build_result(
            self.out, best, scan=self.scan, split=self.split, config=self.config,
            facts=self._facts(), stopped=stopped, test=test,
            state_file=self.state_file if stopped == "cancelled" else None,
            write_report=write_report, write=self.world.is_main,
        )  # fmt: skip
        if stopped != "cancelled" and self.world.is_main:
            with contextlib.suppress(FileNotFoundError):
                self.state_file.unlink()
        self._emit("finished", len(self.history), self.steps, self.steps, message=stopped)
        return result

    def _facts(self) -> RunFacts:
        return RunFacts(
            self.start, self.spec, self.parts.device, tuple(self.history), tuple(self.notes),
            self.elapsed_s, self.positive, self.held,
        )  # fmt: skip

    def require_best(self) -> BestModel:
        if self.best is None:
            raise RuntimeError("no epoch has finished yet")
        return self.best

    @property
    def elapsed_s(self) -> float:
        return self.pos.seconds + time.perf_counter() - self._started
