"""Classification metrics and calibration, in numpy only (no scikit-learn).

Inputs are integer labels ``y_true`` of shape (N,) in ``0..K-1`` and either predicted labels
(N,) or probabilities / logits (N, K). Undefined ratios (a class never predicted, a class
absent from the labels) are reported as 0.0, as scikit-learn's ``zero_division=0`` does, and
ROC-AUC as NaN when only one class is present.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.probabilities import softmax

ECE_BINS = 15


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class, each in [0, 1]; ``support`` = true count."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationMetrics:
    """Everything measured on one labelled set (validation or test).

    ``confusion[i][j]`` counts images of true class i predicted as class j. For two classes,
    ``positive`` names the positive class: sensitivity = its recall, specificity = the other
    class's recall, ``roc_auc`` and ``roc`` (false-positive rate, true-positive rate points)
    from its probability. ``ece`` is the expected calibration error (15 equal-width confidence
    bins) of the probabilities the metrics were computed from.
    """

    accuracy: float
    balanced_accuracy: float
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]
    loss: float  # mean negative log-likelihood (plain cross-entropy), nats
    ece: float
    count: int
    sensitivity: float | None = None
    specificity: float | None = None
    roc_auc: float | None = None
    positive: str | None = None
    roc: tuple[tuple[float, float], ...] = ()

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.per_class)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["per_class"] = [asdict(c) for c in self.per_class]
        data["confusion"] = [list(row) for row in self.confusion]
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}

    def table(self) -> str:
        """A plain-text table: one row per class, then the overall figures."""
        width = max(8, *(len(c.name) for c in self.per_class))
        lines = [f"{'class':<{width}}  precision  recall     f1  support"]
        for c in self.per_class:
            lines.append(
                f"{c.name:<{width}}  {c.precision:9.3f}  {c.recall:6.3f}  {c.f1:5.3f}  {c.support:7d}"
            )
        lines.append(
            f"accuracy {self.accuracy:.3f}, balanced accuracy {self.balanced_accuracy:.3f}"
        )
        if self.sensitivity is not None and self.specificity is not None:
            auc = (
                "n/a" if self.roc_auc is None or math.isnan(self.roc_auc) else f"{self.roc_auc:.3f}"
            )
            lines.append(
                f"positive class {self.positive!r}: sensitivity {self.sensitivity:.3f}, "
                f"specificity {self.specificity:.3f}, ROC-AUC {auc}"
            )
        lines.append(f"loss {self.loss:.4f}, calibration error (ECE) {self.ece:.3f}")
        return "\n".join(lines)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 (K, K): row = true class, column = predicted class."""
    y_true, y_pred = _labels(y_true, num_classes), _labels(y_pred, num_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


POSITIVE_NAMES = frozenset(
    ("positive", "abnormal", "disease", "lesion", "tumor", "malignant", "yes", "1")
)
"""Class names that say "this is the finding" (matched case-insensitively, word by word)."""


def default_positive(class_names: Sequence[str], counts: Sequence[int]) -> int:
    """The positive class of a two-class set, asked of the data: the class named like a
    finding (:data:`POSITIVE_NAMES`) if exactly one is, otherwise the smaller class (the
    second on a tie)."""
    named = [
        i
        for i, name in enumerate(class_names)
        if POSITIVE_NAMES & set(re.split(r"[^a-z0-9]+", name.casefold()))
    ]
    if len(named) == 1:
        return named[0]
    return 0 if counts[0] < counts[1] else 1


def roc_curve(
    y_true: np.ndarray, scores: np.ndarray, points: int = 101
) -> tuple[tuple[float, float], ...]:
    """(false-positive rate, true-positive rate) pairs from (0, 0) to (1, 1), one per distinct
    score threshold, thinned to about ``points``; empty when only one class is present."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return ()
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the end of each run of equal scores
    tpr = np.r_[0.0, np.cumsum(y)[last] / positives]
    fpr = np.r_[0.0, np.cumsum(~y)[last] / negatives]
    keep = np.unique(np.linspace(0, len(tpr) - 1, min(points, len(tpr))).round().astype(int))
    return tuple(
        (round(float(f), 4), round(float(t), 4)) for f, t in zip(fpr[keep], tpr[keep], strict=True)
    )


def reliability_bins(
    probs: np.ndarray, y_true: np.ndarray, bins: int = ECE_BINS
) -> tuple[tuple[float, float, int], ...]:
    """(mean confidence, accuracy, count) of each non-empty equal-width confidence bin: the
    points of a reliability diagram."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return ()
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    return tuple(
        (float(confidence[m].mean()), float(correct[m].mean()), int(m.sum()))
        for m in (which == b for b in range(bins))
        if m.any()
    )


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve for binary labels {0, 1} and real scores (N,).

    Computed as the Mann-Whitney U statistic with average ranks for ties; NaN when only one
    class is present.
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = _average_ranks(s)
    u = ranks[y].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Each run of equal values gets the mean of the 1-based ranks it spans.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2
    return ranks


def expected_calibration_error(
    probs: np.ndarray, y_true: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE of (N, K) probabilities: the confidence-weighted gap between confidence and accuracy.

    Top-1 confidence is split into ``bins`` equal-width bins over [0, 1]; result in [0, 1].
    """
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    ece = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            ece += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(ece)


def nll(logits: np.ndarray, y_true: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of (N, K) logits at ``temperature`` (nats)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    picked = z[np.arange(len(z)), np.asarray(y_true, dtype=np.int64)]
    return float(np.mean(log_norm - picked)) if len(z) else 0.0


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature T in [0.05, 20] that minimises the NLL of ``softmax(logits / T)``.

    A golden-section search on log T (the NLL is unimodal in it). Returns 1.0 for an empty
    set, and when every sample is already classified correctly: the NLL then keeps falling as
    T shrinks, so the data name no best temperature, and sharpening on the strength of a
    (typically small) flawless validation set would only make the model overconfident.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if len(logits) == 0 or np.all(logits.argmax(axis=1) == np.asarray(y_true)):
        return 1.0
    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits, y_true, math.exp(a)), nll(logits, y_true, math.exp(b))
    for _ in range(60):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits, y_true, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits, y_true, math.exp(b))
    return float(math.exp((lo + hi) / 2))


def classification_metrics(
    logits: np.ndarray,
    y_true: np.ndarray,
    class_names: Sequence[str],
    *,
    temperature: float = 1.0,
    positive: int | None = None,
) -> ClassificationMetrics:
    """All metrics for (N, K) ``logits`` against (N,) integer labels; ``positive`` is the
    index of the positive class of a two-class set (default: the second)."""
    num_classes = len(class_names)
    logits = np.asarray(logits, dtype=np.float64).reshape(-1, num_classes)
    y = _labels(y_true, num_classes)
    probs = softmax(logits, temperature).astype(np.float64)
    cm = confusion_matrix(y, probs.argmax(axis=1), num_classes)
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    present = support > 0
    binary: dict[str, Any] = {}
    if num_classes == 2:
        pos = 1 if positive is None else positive
        binary = {
            "sensitivity": float(recall[pos]),
            "specificity": float(recall[1 - pos]),
            "roc_auc": roc_auc(y == pos, probs[:, pos]),
            "positive": class_names[pos],
            "roc": roc_curve(y == pos, probs[:, pos]),
        }
    return ClassificationMetrics(
        accuracy=float(tp.sum() / len(y)) if len(y) else 0.0,
        balanced_accuracy=float(recall[present].mean()) if present.any() else 0.0,
        per_class=tuple(
            ClassMetrics(name, float(p), float(r), float(f), int(s))
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support, strict=True)
        ),
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
        loss=nll(logits, y, temperature),
        ece=expected_calibration_error(probs, y),
        count=len(y),
        **binary,
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _labels(values: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(values).astype(np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    return labels
