"""Inference engines behind one small interface.

A backend turns a normalised batch into logits, and can explain one input with a class
activation map. The torch backend serves every model; the ONNX Runtime backend serves exported
models without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from engine.explain.cam import CamResult


class Backend(Protocol):
    name: str
    """"torch" or "onnxruntime"."""
    device: str
    """Where it runs, in words: "cpu", "cuda:0", "CUDAExecutionProvider" ..."""
    precision: str
    """What the arithmetic runs at: "fp32", "bf16", "fp16" (autocast) or "int8" (quantized)."""

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 3, H, W) normalised batch -> float32 (N, num_classes) logits."""
        ...

    def cam(self, batch: np.ndarray, class_index: int | None) -> CamResult:
        """Explain one input, float32 (1, 3, H, W); ``class_index`` None means the top-1."""
        ...
