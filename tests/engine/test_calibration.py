"""Honest calibration: the temperature is fitted on validation and judged on data it never
saw; absurd temperatures are refused; the positive class is asked of the data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.probabilities import softmax
from engine.training.calibration import calibrate, cross_fitted
from engine.training.metrics import (
    classification_metrics,
    default_positive,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    roc_curve,
)
from engine.training.recipe import Evaluation, improves


def overconfident(n: int, seed: int) -> Evaluation:
    """Logits of a 3-class model that is right 70 % of the time but sure of every answer."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.7, labels, (labels + 1) % 3)
    logits = rng.normal(0, 0.3, (n, 3))
    logits[np.arange(n), predicted] += 6.0
    return Evaluation(logits.astype(np.float32), labels, np.arange(n))


def test_ece_after_comes_from_the_test_split_the_temperature_never_saw() -> None:
    val, test = overconfident(200, 0), overconfident(150, 1)
    c = calibrate(val, test)
    assert c.temperature == pytest.approx(fit_temperature(val.logits, val.labels))
    assert c.temperature > 1.5  # overconfident: softened
    assert c.ece_after == pytest.approx(
        expected_calibration_error(softmax(test.logits, c.temperature), test.labels), abs=1e-6
    )
    assert c.ece_before == pytest.approx(
        expected_calibration_error(softmax(test.logits), test.labels), abs=1e-6
    )
    assert c.ece_after < c.ece_before and "test split (150 images)" in c.measured_on
    assert sum(n for _, _, n in c.reliability_after) == 150


def test_without_a_test_split_each_image_is_calibrated_by_the_other_folds() -> None:
    val = overconfident(100, 2)
    temperatures = cross_fitted(val)
    for i in (0, 37, 99):  # an image's own logits never move its own temperature
        changed = val.logits.copy()
        changed[i] = [40.0, -40.0, 0.0] if val.labels[i] else [-40.0, 40.0, 0.0]
        moved = cross_fitted(Evaluation(changed, val.labels, val.indices))
        assert moved[i] == temperatures[i]
        assert not np.allclose(moved, temperatures)  # ... but it does move the other folds'
    c = calibrate(val)
    in_sample = expected_calibration_error(softmax(val.logits, c.temperature), val.labels)
    honest = expected_calibration_error(softmax(val.logits / temperatures[:, None]), val.labels)
    assert c.ece_after == pytest.approx(honest, abs=1e-6) and c.ece_after != in_sample
    assert "cross-fitting" in c.measured_on


def test_absurd_temperatures_are_refused_with_a_note() -> None:
    labels = np.array([0, 1, 0, 1, 0, 1])
    logits = np.array([[0.2, 0.0], [0.0, 0.2], [0.2, 0.0], [0.0, 0.2], [0.2, 0.0], [0.2, 0.0]])
    val = Evaluation(logits.astype(np.float32), labels, np.arange(6))
    c = calibrate(val)
    assert c.fitted < 0.2  # the fit wants to sharpen barely-separated logits a lot
    assert c.temperature == 1.0 and c.note is not None and "refused" in c.note
    assert "refused" in c.describe()


def test_positive_class_default_roc_and_reliability() -> None:
    assert default_positive(("abnormal", "normal"), [50, 10]) == 0  # named like a finding
    assert default_positive(("face", "non_face"), [30, 70]) == 0  # else the smaller class
    assert default_positive(("benign", "malignant_lesion"), [5, 9]) == 1
    assert default_positive(("positive", "tumor"), [9, 5]) == 1  # two named: the smaller
    labels = np.array([0, 0, 0, 1, 1, 1])
    logits = np.array([[2, 0], [1, 0], [0, 1], [0, 2], [0, 3], [1, 0]], dtype=np.float32)
    m = classification_metrics(logits, labels, ("face", "non_face"), positive=0)
    assert m.positive == "face" and "positive class 'face'" in m.table()
    assert m.sensitivity == pytest.approx(2 / 3) and m.specificity == pytest.approx(2 / 3)
    curve = roc_curve(labels == 0, softmax(logits)[:, 0])
    assert curve[0] == (0.0, 0.0) and curve[-1] == (1.0, 1.0)
    assert all(b[0] >= a[0] and b[1] >= a[1] for a, b in itertools.pairwise(curve))
    bins = reliability_bins(softmax(logits), labels)
    assert sum(n for _, _, n in bins) == 6 and all(0.5 <= c <= 1 for c, _, _ in bins)


def test_selection_prefers_the_metric_then_the_loss() -> None:
    assert improves((0.80, -0.9), (0.70, -0.3))  # better accuracy wins despite a higher loss
    assert not improves((0.70, -0.5), (0.70, -0.3))  # a tie goes to the lower loss
    assert improves((0.70, -0.2), (0.70, -0.3))
    assert not improves((-0.3 + 1e-8, 0.0), (-0.3, 0.0))  # rounding noise is no improvement
