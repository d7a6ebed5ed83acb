"""Honest temperature scaling: fitted on the validation split, judged on data it never saw.

Fitting a temperature and measuring the calibration error on the same images flatters it. So
the temperature is fitted on the whole validation split, and the error before and after is
measured on the test split when there is one; otherwise by cross-fitting: the validation
split in K folds, each fold calibrated with a temperature fitted on the other folds.
"""

from __future__ import annotations

import numpy as np

from engine.probabilities import softmax
from engine.training.metrics import (
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
)
from engine.training.recipe import Evaluation
from engine.training.records import Calibration

TEMPERATURE_RANGE = (0.2, 10.0)
"""Temperatures outside this are refused: they say the data were too few or too clean to fit."""
CROSS_FIT_FOLDS = 5


def accepted_temperature(fitted: float) -> tuple[float, str | None]:
    """(temperature to use, note): ``fitted`` when it is plausible, else 1.0 and why."""
    lo, hi = TEMPERATURE_RANGE
    if lo <= fitted <= hi:
        return fitted, None
    return 1.0, (
        f"The fitted temperature {fitted:.3f} lies outside {lo:g}-{hi:g}, so it was refused and "
        "1.0 kept: the validation split is too small or too easy to calibrate on."
    )


def calibrate(val: Evaluation, test: Evaluation | None = None, *, seed: int = 0) -> Calibration:
    """Fit on ``val``; measure on ``test`` when it has images, else cross-fitted on ``val``."""
    fitted = fit_temperature(val.logits, val.labels)
    temperature, note = accepted_temperature(fitted)
    if test is not None and len(test.labels):
        logits, labels, after = test.logits, test.labels, np.full(len(test.labels), temperature)
        where = f"the test split ({len(labels)} images), which the temperature was not fitted on"
    else:
        logits, labels, after = val.logits, val.labels, cross_fitted(val, seed=seed)
        k = min(CROSS_FIT_FOLDS, len(labels))
        where = (
            f"the validation split by {k}-fold cross-fitting (each image calibrated with a "
            "temperature fitted on the other folds)"
        )
    before_probs = softmax(logits)
    after_probs = softmax(logits / after[:, None])
    return Calibration(
        temperature=temperature,
        ece_before=expected_calibration_error(before_probs, labels),
        ece_after=expected_calibration_error(after_probs, labels),
        nll_before=nll(logits, labels),
        nll_after=nll(logits / after[:, None], labels),
        fitted=fitted,
        measured_on=where,
        note=note,
        reliability_before=reliability_bins(before_probs, labels),
        reliability_after=reliability_bins(after_probs, labels),
    )


def cross_fitted(val: Evaluation, *, seed: int = 0) -> np.ndarray:
    """Per image (N,), the accepted temperature fitted on the other folds of ``val``."""
    n = len(val.labels)
    temperatures = np.ones(n)
    k = min(CROSS_FIT_FOLDS, n)
    if k < 2:
        return temperatures
    fold = np.empty(n, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    for f in range(k):
        rest = fold != f
        fitted = fit_temperature(val.logits[rest], val.labels[rest])
        temperatures[~rest] = accepted_temperature(fitted)[0]
    return temperatures
