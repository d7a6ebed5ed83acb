"""The one softmax: logits to probabilities, shared by inference, Grad-CAM, export checks and
training metrics."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """float (N, C) logits -> float32 (N, C) probabilities, numerically stable."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
