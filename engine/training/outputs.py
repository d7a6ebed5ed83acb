"""What a training run leaves behind: the model file with its records, the report, the result.

Every function takes what it writes from its arguments: the best weights and their validation
outputs (:class:`BestModel`), the scan, the split, the settings and how the run went
(:class:`RunFacts`). The model file's ``extra`` metadata (JSON) holds the training settings and
seed, where the weights came from, the split manifest (each file's path, class, split and
SHA-256), the metrics, the calibration, the per-epoch history and the misclassified validation
images.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.imaging.preprocess import PreprocessSpec
from engine.models.model_file import ModelInfo, save_model_file
from engine.probabilities import softmax
from engine.training.calibration import calibrate, cross_fitted
from engine.training.health import assess
from engine.training.metrics import (
    ClassificationMetrics,
    classification_metrics,
    expected_calibration_error,
)
from engine.training.recipe import Evaluation, StartingPoint
from engine.training.records import (
    Calibration,
    CrossValidation,
    EpochRecord,
    Misclassified,
    Stopped,
    TrainConfig,
    TrainResult,
)
from engine.training.report import write_report as write_html
from engine.training.scan import DatasetScan, Sample
from engine.training.splits import DataSplit, split_csv_path, write_split_csv

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MAX_MISCLASSIFIED = 200
REPORT_SUFFIX = ".report.html"


@dataclass(frozen=True)
class BestModel:
    """The kept weights (CPU tensors) of ``epoch`` and their outputs on the validation split."""

    epoch: int
    val_loss: float
    state: Mapping[str, torch.Tensor]
    val: Evaluation
    key: tuple[float, float] = (0.0, 0.0)  # its selection key (see recipe.selection_key)


@dataclass(frozen=True)
class HeldOut:
    """Validation outputs from elsewhere, for a model trained without a validation split
    (cross-validation's final model): the folds' out-of-fold outputs, the samples they index,
    and the folds' figures."""

    val: Evaluation
    samples: tuple[Sample, ...]
    cross_validation: CrossValidation


@dataclass(frozen=True)
class RunFacts:
    """How a run went, as its model file and report record it."""

    start: StartingPoint
    spec: PreprocessSpec
    device: str
    history: tuple[EpochRecord, ...]
    notes: tuple[str, ...]
    seconds: float
    positive: int | None = None  # index of the positive class of a two-class set
    held_out: HeldOut | None = None  # stands in for the validation split when there is none


@dataclass(frozen=True)
class Summary:
    """Validation metrics at the fitted temperature, the calibration, and the mistakes."""

    metrics: ClassificationMetrics
    calibration: Calibration
    mistakes: tuple[Misclassified, ...]


def report_path(model_path: Path) -> Path:
    """``model.reslens`` -> ``model.report.html``."""
    return model_path.with_suffix(REPORT_SUFFIX)


def summarize(
    best: BestModel,
    scan: DatasetScan,
    split: DataSplit,
    *,
    positive: int | None = None,
    test: Evaluation | None = None,
    held_out: HeldOut | None = None,
) -> Summary:
    """Calibrate ``best`` on its validation outputs (or ``held_out``'s; judged on ``test`` if
    given, else cross-fitted); its validation metrics at that temperature, whose ECE is
    cross-fitted too, so no figure comes from the images the temperature was fitted on; and
    its mistakes."""
    val, names = (held_out.val if held_out else best.val), scan.class_names
    val_samples = held_out.samples if held_out else split.val
    calibration = calibrate(val, test, seed=split.seed)
    temperature = calibration.temperature
    metrics = classification_metrics(
        val.logits, val.labels, names, temperature=temperature, positive=positive
    )
    honest = cross_fitted(val, seed=split.seed)[:, None]
    ece = expected_calibration_error(softmax(val.logits / honest), val.labels)
    metrics = dataclasses.replace(metrics, ece=ece)
    probs = softmax(val.logits, temperature)
    predicted = probs.argmax(axis=1)
    order = np.argsort(-probs.max(axis=1), kind="stable")
    wrong = [i for i in order if predicted[i] != val.labels[i]]
    mistakes = tuple(
        Misclassified(
            val_samples[int(val.indices[i])].path,
            names[int(val.labels[i])],
            names[int(predicted[i])],
            float(probs[i].max()),
        )
        for i in wrong[:MAX_MISCLASSIFIED]
    )
    return Summary(metrics, calibration, mistakes)


def model_extra(
    best: BestModel,
    summary: Summary,
    *,
    scan: DatasetScan,
    split: DataSplit,
    config: TrainConfig,
    facts: RunFacts,
    stopped: Stopped | None,
    test_metrics: ClassificationMetrics | None,
) -> dict[str, Any]:
    """The training records stored in the model file (JSON data)."""
    root, names = scan.root, scan.class_names
    return {
        "training": {
            "config": config.to_dict(),
            "seed": config.seed,
            "pretrained": facts.start.pretrained,
            "start": facts.start.note,
            "device": facts.device,
            "best_epoch": best.epoch,
            "stopped": stopped or "in progress",
            "seconds": round(facts.seconds, 1),
            "notes": list(facts.notes),
            "select_by": config.select_by,
            "group_by": split.group_by,
            "positive": _name(scan, facts.positive),
            "cross_validation": facts.held_out.cross_validation.to_dict()
            if facts.held_out
            else None,
        },
        "dataset": {
            "root": str(root),
            "class_counts": scan.counts(),
            "grayscale": scan.grayscale,
            "unreadable": [_relative(root, p) for p, _ in scan.unreadable],
        },
        "split": split.to_dict(root, names),
        "metrics": {
            "val": summary.metrics.to_dict(),
            "test": test_metrics.to_dict() if test_metrics is not None else None,
            "calibration": summary.calibration.to_dict(),
        },
        "history": [r.to_dict() for r in facts.history],
        "misclassified": [
            {
                "path": _relative(root, m.path),
                "true": m.true_label,
                "predicted": m.predicted_label,
                "prob": round(m.prob, 4),
            }
            for m in summary.mistakes
        ],
    }


def save_trained_model(
    out: Path,
    best: BestModel,
    *,
    scan: DatasetScan,
    split: DataSplit,
    config: TrainConfig,
    facts: RunFacts,
    stopped: Stopped | None,
    test: Evaluation | None = None,
    test_metrics: ClassificationMetrics | None = None,
) -> Summary:
    """Write the best weights and their records to ``out`` and the split beside it as
    ``<model>.split.csv`` (each atomically); ``test`` as for :func:`summarize`."""
    summary = summarize(
        best, scan, split, positive=facts.positive, test=test, held_out=facts.held_out
    )
    extra = model_extra(
        best, summary, scan=scan, split=split, config=config, facts=facts, stopped=stopped,
        test_metrics=test_metrics,
    )  # fmt: skip
    info = ModelInfo(
        arch=config.arch,
        class_names=scan.class_names,
        preprocess=facts.spec,
        temperature=summary.calibration.temperature,
        extra=extra,
        positive_class=_name(scan, facts.positive),
    )
    save_model_file(out, best.state, info)
    write_split_csv(split_csv_path(out), split, scan.root)
    log.info("saved the model of epoch %d to %s", best.epoch, out)
    return summary


def build_result(
    out: Path,
    best: BestModel,
    *,
    scan: DatasetScan,
    split: DataSplit,
    config: TrainConfig,
    facts: RunFacts,
    stopped: Stopped,
    test: Evaluation | None,
    state_file: Path | None,
    write_report: bool,
    write: bool = True,
) -> TrainResult:
    """Save the final model and report; ``test`` holds the best weights' outputs on the test
    split (None without one); ``state_file`` is where the run can be resumed from, if it can.
    ``write=False`` (the ranks other than 0 under torchrun) builds the same result, writing
    nothing."""
    test_metrics = None
    if test is not None:
        val = facts.held_out.val if facts.held_out else best.val
        temperature = calibrate(val, test, seed=split.seed).temperature
        test_metrics = classification_metrics(
            test.logits, test.labels, scan.class_names, temperature=temperature,
            positive=facts.positive,
        )  # fmt: skip
    if not write:  # another rank of a distributed run: rank 0 writes the files
        summary = summarize(best, scan, split, positive=facts.positive, test=test)
    else:
        summary = save_trained_model(
            out, best, scan=scan, split=split, config=config, facts=facts, stopped=stopped,
            test=test, test_metrics=test_metrics,
        )  # fmt: skip
    report = report_path(out) if write_report and write else None
    result = TrainResult(
        model_path=out,
        report_path=report,
        state_path=state_file,
        class_names=scan.class_names,
        metrics=summary.metrics,
        calibration=summary.calibration,
        test_metrics=test_metrics,
        history=facts.history,
        best_epoch=best.epoch,
        stopped=stopped,
        notes=facts.notes,
        misclassified=summary.mistakes,
        split=split,
        seconds=facts.seconds,
        select_by=config.select_by,
        cross_validation=facts.held_out.cross_validation if facts.held_out else None,
    )
    if report is not None:
        write_html(report, result, health=assess(scan), arch=config.arch)
    return result


def _name(scan: DatasetScan, index: int | None) -> str | None:
    return None if index is None else scan.class_names[index]


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
