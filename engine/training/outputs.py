"""What a training run leaves behind: the model file with its records, the report, the result.

Every function takes what it writes from its arguments: the best weights and their validation
outputs (:class:`BestModel`), the scan, the split, the settings and how the run went
(:class:`RunFacts`). The model file's ``extra`` metadata (JSON) holds the training settings and
seed, where the weights came from, the split manifest (each file's path, class, split and
SHA-256), the metrics, the calibration, the per-epoch history and the misclassified validation
images.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.imaging.preprocess import PreprocessSpec
from engine.models.model_file import ModelInfo, save_model_file
from engine.training.health import assess
from engine.training.metrics import (
    ClassificationMetrics,
    classification_metrics,
    fit_temperature,
    nll,
)
from engine.training.recipe import Evaluation, StartingPoint
from engine.training.records import (
    Calibration,
    EpochRecord,
    Misclassified,
    Stopped,
    TrainConfig,
    TrainResult,
)
from engine.training.report import write_report as write_html
from engine.training.scan import DatasetScan
from engine.training.splits import DataSplit

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


@dataclass(frozen=True)
class RunFacts:
    """How a run went, as its model file and report record it."""

    start: StartingPoint
    spec: PreprocessSpec
    device: str
    history: tuple[EpochRecord, ...]
    notes: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class Summary:
    """Validation metrics at the fitted temperature, the calibration, and the mistakes."""

    metrics: ClassificationMetrics
    calibration: Calibration
    mistakes: tuple[Misclassified, ...]


def report_path(model_path: Path) -> Path:
    """``model.reslens`` -> ``model.report.html``."""
    return model_path.with_suffix(REPORT_SUFFIX)


def summarize(best: BestModel, scan: DatasetScan, split: DataSplit) -> Summary:
    """Calibrate ``best`` on its validation outputs; its metrics there and its mistakes."""
    logits, labels, indices = best.val.logits, best.val.labels, best.val.indices
    names = scan.class_names
    temperature = fit_temperature(logits, labels)
    before = classification_metrics(logits, labels, names)
    after = classification_metrics(logits, labels, names, temperature=temperature)
    calibration = Calibration(
        temperature, before.ece, after.ece, nll(logits, labels), nll(logits, labels, temperature)
    )
    z = logits / temperature
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    predicted = probs.argmax(axis=1)
    wrong = [i for i in np.argsort(-probs.max(axis=1), kind="stable") if predicted[i] != labels[i]]
    mistakes = tuple(
        Misclassified(
            split.val[int(indices[i])].path,
            names[int(labels[i])],
            names[int(predicted[i])],
            float(probs[i].max()),
        )
        for i in wrong[:MAX_MISCLASSIFIED]
    )
    return Summary(after, calibration, mistakes)


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
    test_metrics: ClassificationMetrics | None = None,
) -> Summary:
    """Write the best weights and their records to ``out`` (atomically)."""
    summary = summarize(best, scan, split)
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
    )
    save_model_file(out, best.state, info)
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
        temperature = summarize(best, scan, split).calibration.temperature
        test_metrics = classification_metrics(
            test.logits, test.labels, scan.class_names, temperature=temperature
        )
    if not write:
        summary = summarize(best, scan, split)
    else:
        summary = save_trained_model(
            out, best, scan=scan, split=split, config=config, facts=facts, stopped=stopped,
            test_metrics=test_metrics,
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
    )
    if report is not None:
        write_html(report, result, health=assess(scan), arch=config.arch)
    return result


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
