"""Metrics against hand-computed values, calibration on data whose best temperature is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.training.metrics import (
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    nll,
    roc_auc,
)


def _logits_for(predicted: list[int], k: int) -> np.ndarray:
    logits = np.zeros((len(predicted), k))
    logits[np.arange(len(predicted)), predicted] = 5.0
    return logits


def test_three_class_metrics_match_hand_computation() -> None:
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0]
    m = classification_metrics(_logits_for(y_pred, 3), np.array(y_true), ["a", "b", "c"])
    assert m.confusion == ((3, 1, 0), (0, 1, 1), (1, 0, 3))
    assert m.accuracy == pytest.approx(0.7)
    # recalls 3/4, 1/2, 3/4 -> mean 2/3
    assert m.balanced_accuracy == pytest.approx(2 / 3)
    a, b, c = m.per_class
    assert (a.precision, a.recall, a.support) == (pytest.approx(0.75), pytest.approx(0.75), 4)
    assert b.precision == pytest.approx(0.5) and b.f1 == pytest.approx(0.5)
    assert c.f1 == pytest.approx(0.75)
    assert m.sensitivity is None and m.roc_auc is None
    assert "balanced accuracy 0.667" in m.table()


def test_binary_metrics_name_the_positive_class() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    scores = np.array([0.1, 0.4, 0.7, 0.2, 0.6, 0.8, 0.9, 0.95])
    logits = np.stack([np.zeros(8), np.log(scores / (1 - scores))], axis=1)
    m = classification_metrics(logits, y_true, ["healthy", "disease"])
    # predicted positive when score > 0.5: TP=4 (0.6, 0.8, 0.9, 0.95), FN=1, TN=2, FP=1
    assert m.sensitivity == pytest.approx(4 / 5)
    assert m.specificity == pytest.approx(2 / 3)
    # pairs (pos > neg): 0.2 beats 0.1 only; the others beat 2 or 3 negatives -> 12/15
    assert m.roc_auc == pytest.approx(12 / 15)
    assert "positive class 'disease'" in m.table()


def test_roc_auc_counts_ties_as_half_and_is_nan_for_one_class() -> None:
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_classes_never_predicted_or_absent_give_zero_not_nan() -> None:
    m = classification_metrics(_logits_for([0, 0], 3), np.array([0, 1]), ["a", "b", "c"])
    assert m.per_class[2].precision == 0.0 and m.per_class[2].recall == 0.0
    assert m.balanced_accuracy == pytest.approx(0.5)  # over the classes present only
    assert m.to_dict()["per_class"][2]["support"] == 0


def test_confusion_matrix_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


def test_ece_of_perfectly_calibrated_bins_is_zero_and_of_overconfidence_is_the_gap() -> None:
    probs = np.array([[0.8, 0.2]] * 10)
    y = np.array([0] * 8 + [1] * 2)  # 80 % right at 80 % confidence
    assert expected_calibration_error(probs, y) == pytest.approx(0.0)
    y_bad = np.array([0] * 5 + [1] * 5)  # 50 % right at 80 % confidence
    assert expected_calibration_error(probs, y_bad) == pytest.approx(0.3)


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (4000, 4))
    z = true_logits - true_logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in p])
    overconfident = true_logits * 2.5  # a network 2.5x too sure of itself
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(2.5, rel=0.1)
    assert nll(overconfident, y, t) < nll(overconfident, y)
    before = expected_calibration_error(
        np.exp(overconfident) / np.exp(overconfident).sum(1, keepdims=True), y
    )
    scaled = overconfident / t
    after = expected_calibration_error(np.exp(scaled) / np.exp(scaled).sum(1, keepdims=True), y)
    assert after < before / 2


def test_flawless_validation_set_leaves_the_temperature_at_one() -> None:
    assert fit_temperature(_logits_for([0, 1, 2], 3), np.array([0, 1, 2])) == 1.0
    assert fit_temperature(np.empty((0, 3)), np.empty(0)) == 1.0
