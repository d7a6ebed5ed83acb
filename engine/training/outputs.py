"""What a training run leaves behind: the model file with its records, the report, the result.

The model file's ``extra`` metadata (JSON) holds the training settings and seed, where the
weights came from, the split manifest (each file's path, class, split and SHA-256), the
metrics, the calibration, the per-epoch history and the misclassified validation images.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.models.model_file import ModelInfo, save_model_file
from engine.training.health import assess
from engine.training.metrics import (
    ClassificationMetrics,
    classification_metrics,
    fit_temperature,
    nll,
)
from engine.training.records import Calibration, Misclassified, Stopped, TrainResult

if TYPE_CHECKING:
    from engine.training.run import TrainingRun

log = logging.getLogger(__name__)

MAX_MISCLASSIFIED = 200
REPORT_SUFFIX = ".report.html"


def report_path(model_path: Path) -> Path:
    """``model.reslens`` -> ``model.report.html``."""
    return model_path.with_suffix(REPORT_SUFFIX)


def summarize_best(
    run: TrainingRun,
) -> tuple[ClassificationMetrics, Calibration, tuple[Misclassified, ...]]:
    """Validation metrics at the fitted temperature, the calibration, and the mistakes."""
    logits, labels, indices = run.best_validation()
    names = run.scan.class_names
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
            run.split.val[int(indices[i])].path,
            names[int(labels[i])],
            names[int(predicted[i])],
            float(probs[i].max()),
        )
        for i in wrong[:MAX_MISCLASSIFIED]
    )
    return after, calibration, mistakes


def model_extra(
    run: TrainingRun,
    stopped: Stopped | None,
    metrics: ClassificationMetrics,
    calibration: Calibration,
    test_metrics: ClassificationMetrics | None,
    mistakes: tuple[Misclassified, ...],
) -> dict[str, Any]:
    root, names = run.scan.root, run.scan.class_names
    return {
        "training": {
            "config": run.config.to_dict(),
            "seed": run.config.seed,
            "pretrained": run.start.pretrained,
            "start": run.start.note,
            "device": run.device,
            "best_epoch": run.best.epoch if run.best else None,
            "stopped": stopped or "in progress",
            "seconds": round(run.elapsed_s, 1),
            "notes": list(run.notes),
        },
        "dataset": {
            "root": str(root),
            "class_counts": run.scan.counts(),
            "grayscale": run.scan.grayscale,
            "unreadable": [_relative(root, p) for p, _ in run.scan.unreadable],
        },
        "split": run.split.to_dict(root, names),
        "metrics": {
            "val": metrics.to_dict(),
            "test": test_metrics.to_dict() if test_metrics is not None else None,
            "calibration": calibration.to_dict(),
        },
        "history": [r.to_dict() for r in run.history],
        "misclassified": [
            {
                "path": _relative(root, m.path),
                "true": m.true_label,
                "predicted": m.predicted_label,
                "prob": round(m.prob, 4),
            }
            for m in mistakes
        ],
    }


def save_trained_model(
    run: TrainingRun,
    stopped: Stopped | None,
    test_metrics: ClassificationMetrics | None = None,
) -> tuple[ClassificationMetrics, Calibration, tuple[Misclassified, ...]]:
    """Write the best weights and their records to ``run.out`` (atomically)."""
    best = run.require_best()
    metrics, calibration, mistakes = summarize_best(run)
    info = ModelInfo(
        arch=run.config.arch,
        class_names=run.scan.class_names,
        preprocess=run.spec,
        temperature=calibration.temperature,
        extra=model_extra(run, stopped, metrics, calibration, test_metrics, mistakes),
    )
    save_model_file(run.out, best.state, info)
    log.info("saved the model of epoch %d to %s", best.epoch, run.out)
    return metrics, calibration, mistakes


def build_result(run: TrainingRun, stopped: Stopped, *, write_report: bool) -> TrainResult:
    """Evaluate the test split (if any), save the final model and report, return the result."""
    test_metrics = None
    if run.split.test and stopped != "cancelled":
        _, calibration, _ = summarize_best(run)
        logits, labels, _ = run.evaluate_best(run.split.test)
        test_metrics = classification_metrics(
            logits, labels, run.scan.class_names, temperature=calibration.temperature
        )
    metrics, calibration, mistakes = save_trained_model(run, stopped, test_metrics)
    best = run.require_best()
    report = report_path(run.out) if write_report else None
    result = TrainResult(
        model_path=run.out,
        report_path=report,
        state_path=run.state_file if stopped == "cancelled" else None,
        class_names=run.scan.class_names,
        metrics=metrics,
        calibration=calibration,
        test_metrics=test_metrics,
        history=tuple(run.history),
        best_epoch=best.epoch,
        stopped=stopped,
        notes=tuple(run.notes),
        misclassified=mistakes,
        split=run.split,
        seconds=run.elapsed_s,
    )
    if report is not None:
        from engine.training.report import write_report as write_html

        write_html(report, result, health=assess(run.scan), arch=run.config.arch)
    return result


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
