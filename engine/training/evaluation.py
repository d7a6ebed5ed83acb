"""Evaluate a saved model on a labelled folder it never trained on (an external test set).

>>> result = evaluate_model("model.reslens", "external/")   # doctest: +SKIP
>>> print(result.summary())                                   # doctest: +SKIP

The images are decoded and cropped exactly as training evaluates its validation split, the
model's own temperature and positive class are used, and the calibration error is measured
here, on images the temperature was never fitted on.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import DatasetError
from engine.jobs import CancelToken
from engine.models.model_file import ModelInfo, load_model_file
from engine.models.registry import build_model
from engine.probabilities import softmax
from engine.training import recipe
from engine.training.data import ImageStore, eval_batches
from engine.training.metrics import (
    ClassificationMetrics,
    classification_metrics,
    default_positive,
    expected_calibration_error,
    nll,
    reliability_bins,
)
from engine.training.records import Calibration, Misclassified
from engine.training.scan import DatasetScan, Sample, ScanProgress, scan_dataset

if TYPE_CHECKING:
    import torch

MAX_MISCLASSIFIED = 200
EVAL_BATCH = 64


@dataclass(frozen=True)
class EvaluationResult:
    """A model's figures on one labelled folder. ``metrics`` at the model's temperature;
    ``calibration``: ECE at temperature 1 (before) and at the model's (after), on this folder."""

    model_path: Path
    data_root: Path
    class_names: tuple[str, ...]
    metrics: ClassificationMetrics
    calibration: Calibration
    misclassified: tuple[Misclassified, ...]
    unreadable: tuple[tuple[Path, str], ...]
    counts: tuple[tuple[str, int], ...]  # images per class in the folder

    def summary(self) -> str:
        lines = [
            f"{self.metrics.count} images of {self.data_root} "
            f"({', '.join(f'{n}: {c}' for n, c in self.counts)})",
            self.metrics.table(),
            "confusion matrix (rows: true class, columns: predicted):",
            *confusion_lines(self.metrics),
            self.calibration.describe(),
        ]
        if self.unreadable:
            lines.append(f"note: {len(self.unreadable)} unreadable image(s) were left out")
        return "\n".join(lines)


def confusion_lines(metrics: ClassificationMetrics) -> list[str]:
    """The confusion matrix as aligned text rows, with class names."""
    names = metrics.class_names
    width = max(5, *(len(n) for n in names))
    cell = max(6, *(len(n) for n in names))
    head = " " * (width + 2) + " ".join(f"{n:>{cell}}" for n in names)
    rows = [
        f"{n:<{width}}  " + " ".join(f"{v:>{cell}d}" for v in row)
        for n, row in zip(names, metrics.confusion, strict=True)
    ]
    return [head, *rows]


def evaluate_model(
    model_path: str | Path,
    data: str | Path | DatasetScan,
    *,
    device: str = "auto",
    cancel: CancelToken | None = None,
    on_progress: ScanProgress | None = None,
) -> EvaluationResult:
    """Evaluate the ``.reslens`` model at ``model_path`` on the labelled folder ``data``.

    Class folders are matched to the model's classes by name; a folder named for a class the
    model does not know raises :class:`DatasetError` before any work (as does a folder with no
    readable image); model classes missing from the folder simply have no images.
    """
    model_path = Path(model_path)
    state, info = load_model_file(model_path)
    scan = (
        data
        if isinstance(data, DatasetScan)
        else scan_dataset(data, cancel=cancel, on_progress=on_progress)
    )
    samples = _relabelled(scan, info)
    evaluation = _run(state, info, samples, device=device, cancel=cancel)
    names = info.class_names
    counts = np.bincount(evaluation.labels, minlength=len(names))
    positive = _positive(info, counts)
    metrics = classification_metrics(
        evaluation.logits, evaluation.labels, names, temperature=info.temperature, positive=positive
    )
    return EvaluationResult(
        model_path=model_path,
        data_root=scan.root,
        class_names=names,
        metrics=metrics,
        calibration=_calibration(evaluation, info.temperature, scan.root),
        misclassified=_mistakes(evaluation, samples, names, info.temperature),
        unreadable=scan.unreadable,
        counts=tuple(
            (n, int(c)) for n, c in zip(names, counts, strict=True) if c or n in scan.class_names
        ),
    )


def _relabelled(scan: DatasetScan, info: ModelInfo) -> tuple[Sample, ...]:
    unknown = [n for n in scan.class_names if n not in info.class_names]
    if unknown:
        raise DatasetError(
            f"The model does not know the class(es) {', '.join(repr(n) for n in unknown)} found "
            f"in {scan.root}; it knows {', '.join(repr(n) for n in info.class_names)}. "
            "Name the class folders as the model's classes."
        )
    if not scan.samples:
        raise DatasetError(f"{scan.root} holds no readable images in its class folders.")
    index = {n: info.class_names.index(n) for n in scan.class_names}
    return tuple(
        dataclasses.replace(s, label=index[scan.class_names[s.label]]) for s in scan.samples
    )


def _run(
    state: Mapping[str, torch.Tensor],
    info: ModelInfo,
    samples: tuple[Sample, ...],
    *,
    device: str,
    cancel: CancelToken | None,
) -> recipe.Evaluation:
    import torch

    from engine.runtime.backends.torch_backend import resolve_device

    device = resolve_device(device)
    model = build_model(info.arch, num_classes=len(info.class_names))
    model.load_state_dict(state)
    model = model.to(device).to(memory_format=torch.channels_last)
    store = ImageStore(info.preprocess, budget_bytes=0)  # one pass: nothing worth caching
    batches = eval_batches(store, samples, batch_size=EVAL_BATCH, cancel=cancel)
    with contextlib.closing(batches):
        return recipe.evaluate(
            model, batches, inputs=recipe.Inputs(info.preprocess, device), amp=recipe.Amp(device)
        )


def _positive(info: ModelInfo, counts: np.ndarray) -> int | None:
    if len(info.class_names) != 2:
        return None
    if info.positive_class is not None:
        return info.class_names.index(info.positive_class)
    return default_positive(info.class_names, [int(c) for c in counts])


def _calibration(evaluation: recipe.Evaluation, temperature: float, root: Path) -> Calibration:
    logits, labels = evaluation.logits, evaluation.labels
    before, after = softmax(logits), softmax(logits, temperature)
    return Calibration(
        temperature=temperature,
        ece_before=expected_calibration_error(before, labels),
        ece_after=expected_calibration_error(after, labels),
        nll_before=nll(logits, labels),
        nll_after=nll(logits, labels, temperature),
        fitted=temperature,
        measured_on=f"{root} ({len(labels)} images), which the temperature was not fitted on",
        reliability_before=reliability_bins(before, labels),
        reliability_after=reliability_bins(after, labels),
    )


def _mistakes(
    evaluation: recipe.Evaluation,
    samples: tuple[Sample, ...],
    names: tuple[str, ...],
    temperature: float,
) -> tuple[Misclassified, ...]:
    probs = softmax(evaluation.logits, temperature)
    predicted = probs.argmax(axis=1)
    order = np.argsort(-probs.max(axis=1), kind="stable")
    wrong = [i for i in order if predicted[i] != evaluation.labels[i]][:MAX_MISCLASSIFIED]
    return tuple(
        Misclassified(
            samples[int(evaluation.indices[i])].path,
            names[int(evaluation.labels[i])],
            names[int(predicted[i])],
            float(probs[i].max()),
        )
        for i in wrong
    )
