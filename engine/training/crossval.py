"""Cross-validation for small data sets: K grouped, stratified folds, then the final model.

Each fold trains a model on the other folds and validates on its own (no group in both); the
figures are reported as mean ± standard deviation over the folds. The final model is then
trained on all training data (train + validation; a test split stays aside) for the median of
the folds' best epochs, and calibrated on the folds' out-of-fold outputs: each image scored
by the fold model that never trained on it.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.jobs import CancelToken
from engine.training.outputs import BestModel, HeldOut
from engine.training.prepare import CountCallback, prepare_data
from engine.training.recipe import Evaluation
from engine.training.records import CrossValidation, TrainConfig, TrainResult
from engine.training.scan import DatasetScan, Sample
from engine.training.splits import DataSplit, fold_splits

RunSplit = Callable[
    [DatasetScan, DataSplit, Path, TrainConfig, HeldOut | None], tuple[TrainResult, BestModel]
]
"""Train ``config`` on a given split, writing the model to the path; (result, best weights)."""


def train_cross_validated(
    data: str | Path | DatasetScan,
    out: Path,
    config: TrainConfig,
    *,
    run_split: RunSplit,
    cancel: CancelToken | None = None,
    on_progress: CountCallback | None = None,
) -> TrainResult:
    """``config.folds`` fold models (in a temporary folder), then the final model at ``out``."""
    scan, split = prepare_data(data, config, cancel=cancel, on_progress=on_progress)
    folds = fold_splits(scan, split, config.folds)
    outcomes: list[tuple[TrainResult, BestModel, DataSplit]] = []
    with tempfile.TemporaryDirectory(prefix="reslens-folds-") as tmp:
        for k, fold in enumerate(folds, 1):
            fold_config = dataclasses.replace(config, folds=0)
            result, best = run_split(scan, fold, Path(tmp) / f"fold{k}.reslens", fold_config, None)
            outcomes.append((result, best, fold))
    held_out = pool_folds(outcomes)
    epochs = max(1, round(float(np.median(held_out.cross_validation.best_epochs))))
    note = (
        f"The final model was trained on all {len(split.train) + len(split.val)} training images "
        f"for {epochs} epoch(s), the median best epoch of the {config.folds} folds; its "
        "validation figures are the folds' models' on the images each did not train on."
    )
    final = DataSplit(
        train=in_order(scan, split.train + split.val),
        val=(),
        test=split.test,
        source="folds",
        seed=split.seed,
        val_fraction=0.0,
        test_fraction=split.test_fraction,
        group_by=split.group_by,
        notes=(*split.notes, note),
    )
    final_config = dataclasses.replace(config, epochs=epochs, patience=0)
    result, _ = run_split(scan, final, out, final_config, held_out)
    return result


def pool_folds(outcomes: list[tuple[TrainResult, BestModel, DataSplit]]) -> HeldOut:
    """The folds' figures (mean ± sd) and their out-of-fold outputs pooled in one evaluation."""
    logits, labels, samples = [], [], []
    for _, best, fold in outcomes:
        logits.append(best.val.logits)
        labels.append(best.val.labels)
        samples += [fold.val[int(i)] for i in best.val.indices]
    pooled = Evaluation(
        np.concatenate(logits), np.concatenate(labels), np.arange(len(samples), dtype=np.int64)
    )
    return HeldOut(pooled, tuple(samples), _figures(outcomes))


def _figures(outcomes: list[tuple[TrainResult, BestModel, DataSplit]]) -> CrossValidation:
    names = ["accuracy", "balanced_accuracy", "loss", "ece"]
    if outcomes[0][0].metrics.sensitivity is not None:
        names += ["sensitivity", "specificity", "roc_auc"]
    figures = []
    for name in names:
        values = [getattr(r.metrics, name) for r, _, _ in outcomes]
        values = [float(v) for v in values if v is not None and math.isfinite(v)]
        if values:
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            figures.append((name.replace("_", " "), float(np.mean(values)), sd))
    return CrossValidation(
        len(outcomes), tuple(figures), tuple(r.best_epoch for r, _, _ in outcomes)
    )


def in_order(scan: DatasetScan, samples: tuple[Sample, ...]) -> tuple[Sample, ...]:
    chosen = set(samples)
    return tuple(s for s in scan.samples if s in chosen)
