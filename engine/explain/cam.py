"""Grad-CAM and plain CAM heat maps, and mapping them back onto the original image.

Torch is imported inside the code that needs it, so :func:`class_activation_map` and
:func:`heatmap_to_image` work in a process that never imports torch (the ONNX backend).

Example::

    with GradCAM(model, model.layer4) as cam:
        result = cam(batch)  # batch: float (1, 3, H, W)
    full = heatmap_to_image(result.heatmap, crop_box, image.size)
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "CamResult",
    "GradCAM",
    "class_activation_map",
    "explain",
    "heatmap_to_image",
]


@dataclass(frozen=True)
class CamResult:
    """One explained prediction.

    Attributes:
        heatmap: float32 (h, w) in [0, 1] at the target layer's resolution (7x7 for a
            ResNet's ``layer4`` at 224 px), covering the model's input crop.
        class_index: the class whose logit was explained.
        score: that logit (before softmax).
        logits: float32 (C,) every class's logit for this input, from the same forward pass
            (softmax them with the model's temperature for probabilities).
    """

    heatmap: np.ndarray
    class_index: int
    score: float
    logits: np.ndarray


def _weighted_map(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """relu(sum_c weights[c] * features[c]) divided by its maximum.

    features: float (C, h, w); weights: float (C,). Returns float32 (h, w) in [0, 1].
    The map is divided by its peak rather than min-max stretched, so 0 keeps meaning
    "no positive evidence"; a map with no positive value stays all zeros (never NaN).
    """
    cam = np.tensordot(weights.astype(np.float32), features.astype(np.float32), axes=1)
    cam = np.maximum(cam, 0.0, dtype=np.float32)
    peak = float(cam.max())
    if not np.isfinite(peak):
        logger.warning("CAM has non-finite values; returning an empty heat map")
        return np.zeros(cam.shape, dtype=np.float32)
    if peak <= 0.0:
        return np.zeros(cam.shape, dtype=np.float32)
    return (cam / peak).astype(np.float32)


def class_activation_map(
    features: np.ndarray, fc_weight: np.ndarray, class_index: int
) -> np.ndarray:
    """Plain CAM (Zhou et al. 2016) for a global-average-pool + linear head, numpy only.

    For such a head this equals Grad-CAM at the last stage, so an ONNX model that also
    outputs its last-stage features gives the same map without torch.

    Args:
        features: float32 (C, h, w) last-stage activations for one image.
        fc_weight: float (num_classes, C) weight of the linear classifier.
        class_index: 0 <= class_index < num_classes.

    Returns:
        float32 (h, w) in [0, 1].
    """
    features = np.asarray(features)
    fc_weight = np.asarray(fc_weight)
    if features.ndim != 3:
        raise ValueError(f"features must be (C, h, w), got shape {features.shape}")
    if fc_weight.ndim != 2 or fc_weight.shape[1] != features.shape[0]:
        raise ValueError(
            f"fc_weight must be (num_classes, {features.shape[0]}), got shape {fc_weight.shape}"
        )
    index = _check_class_index(class_index, fc_weight.shape[0])
    return _weighted_map(features, fc_weight[index])


def _check_class_index(class_index: Any, num_classes: int) -> int:
    """Return class_index as an int, or raise ValueError/TypeError if it is not a valid class."""
    if isinstance(class_index, bool):
        raise TypeError("class_index must be an int, not bool")
    index = operator.index(class_index)
    if not 0 <= index < num_classes:
        raise ValueError(f"class_index {index} is out of range for {num_classes} classes")
    return index


class GradCAM:
    """Grad-CAM (Selvaraju et al. 2017) on one layer of a classifier, as a context manager.

    ``with GradCAM(model, target_layer) as cam: result = cam(batch, class_index=None)``

    Entering puts the model in eval mode, freezes every parameter (``requires_grad_(False)``)
    and hooks ``target_layer``. The hook re-roots the graph at the layer's output, so
    backpropagation runs only from the logit down to that layer: the cost is about one
    forward pass. Gradients come from ``torch.autograd.grad``, so parameter ``.grad`` is
    never touched. Leaving (also on an exception) removes the hook and restores the
    training mode and each parameter's ``requires_grad``; exceptions propagate.
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        self.model = model
        self.target_layer = target_layer
        self._handle: Any = None
        self._activations: torch.Tensor | None = None
        self._was_training = model.training
        self._requires_grad: list[tuple[torch.nn.Parameter, bool]] = []

    def __enter__(self) -> GradCAM:
        if self._handle is not None:
            raise RuntimeError("this GradCAM is already active")
        self._was_training = self.model.training
        self._requires_grad = [(p, p.requires_grad) for p in self.model.parameters()]
        try:
            self.model.eval()
            for param, _ in self._requires_grad:
                param.requires_grad_(False)
            self._handle = self.target_layer.register_forward_hook(self._hook)
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._activations = None
        for param, flag in self._requires_grad:
            param.requires_grad_(flag)
        self._requires_grad = []
        self.model.train(self._was_training)

    def _hook(self, module: nn.Module, inputs: object, output: object) -> torch.Tensor:
        import torch

        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"target layer {type(module).__name__} must output a tensor, "
                f"got {type(output).__name__}"
            )
        # A fresh leaf: the graph starts here, and the clone passed on lets later
        # in-place ops (ReLU(inplace=True)) run without touching the leaf.
        self._activations = output.detach().requires_grad_(True)
        return self._activations.clone()

    def __call__(self, batch: torch.Tensor, class_index: int | None = None) -> CamResult:
        """Explain one image.

        Args:
            batch: float tensor (1, 3, H, W), preprocessed as the model expects, on the
                model's device. It does not need ``requires_grad``.
            class_index: class to explain; None explains the top-1 class.

        Returns:
            CamResult with the heat map at the target layer's resolution.

        Raises:
            ValueError: bad batch shape or class_index out of range.
            RuntimeError: used outside the ``with`` block, or the target layer did not run.
        """
        import torch

        if self._handle is None:
            raise RuntimeError("use GradCAM as a context manager: `with GradCAM(...) as cam:`")
        _check_batch(batch)
        # inference_mode(False) lets this run even inside a caller's inference_mode block.
        with torch.inference_mode(False), torch.enable_grad():
            if batch.is_inference():
                batch = batch.clone()
            self._activations = None
            logits = self.model(batch)
            return self._explain_logits(logits, class_index)

    def _explain_logits(self, logits: torch.Tensor, class_index: int | None) -> CamResult:
        import torch

        activations = self._activations
        if activations is None:
            raise RuntimeError("the target layer did not run in the model's forward pass")
        if logits.ndim != 2 or logits.shape[0] != 1:
            raise ValueError(f"model must return logits of shape (1, C), got {tuple(logits.shape)}")
        if activations.ndim != 4:
            raise ValueError(
                f"target layer output must be (1, C, h, w), got {tuple(activations.shape)}"
            )
        num_classes = logits.shape[1]
        if class_index is None:
            index = int(logits[0].argmax())
        else:
            index = _check_class_index(class_index, num_classes)
        score = logits[0, index]
        (grads,) = torch.autograd.grad(score, activations)
        weights = grads[0].float().mean(dim=(1, 2))
        heatmap = _weighted_map(
            activations[0].detach().float().cpu().numpy(), weights.cpu().numpy()
        )
        all_logits = logits.detach()[0].float().cpu().numpy().astype(np.float32)
        return CamResult(heatmap, index, float(score.detach()), all_logits)


def _check_batch(batch: object) -> None:
    import torch

    if not isinstance(batch, torch.Tensor):
        raise TypeError(f"batch must be a torch.Tensor, got {type(batch).__name__}")
    if not batch.is_floating_point():
        raise ValueError(f"batch must be a float tensor, got {batch.dtype}")
    if batch.ndim != 4 or batch.shape[0] != 1:
        raise ValueError(f"batch must have shape (1, 3, H, W), got {tuple(batch.shape)}")


def explain(
    model: nn.Module,
    target_layer: nn.Module,
    batch: torch.Tensor,
    class_index: int | None = None,
) -> CamResult:
    """One-shot Grad-CAM: ``GradCAM(model, target_layer)`` entered, called once, and left."""
    with GradCAM(model, target_layer) as cam:
        return cam(batch, class_index)


def _interp_matrix(size: int, start: float, stop: float, cells: int) -> np.ndarray:
    """Bilinear weights from `cells` samples spread over [start, stop) to `size` pixels.

    Sample i covers [start + i*step, start + (i+1)*step) with its value at the centre
    (half-pixel convention of Pillow and ``torch.nn.functional.interpolate``); beyond the
    outermost centres the edge value is held. Returns float32 (size, cells); rows of
    pixels whose centre lies outside [start, stop) are zero.
    """
    centres = np.arange(size, dtype=np.float64) + 0.5
    inside = (centres >= start) & (centres < stop)
    pos = (centres - start) * (cells / (stop - start)) - 0.5
    pos = np.clip(pos, 0.0, cells - 1)
    lower = np.minimum(np.floor(pos).astype(np.int64), cells - 1)
    upper = np.minimum(lower + 1, cells - 1)
    frac = pos - lower
    weights = np.zeros((size, cells), dtype=np.float64)
    rows = np.arange(size)
    np.add.at(weights, (rows, lower), 1.0 - frac)
    np.add.at(weights, (rows, upper), frac)
    weights[~inside] = 0.0
    return weights.astype(np.float32)


def heatmap_to_image(
    heatmap: np.ndarray,
    crop_box: tuple[float, float, float, float],
    image_size: tuple[int, int],
) -> np.ndarray:
    """Lay a heat map computed on the model's input crop over the original image.

    Args:
        heatmap: float (h, w) in [0, 1], e.g. :attr:`CamResult.heatmap`.
        crop_box: (left, top, right, bottom) in original-image pixels (floats) of the
            region the model saw; for resize-shorter-side then centre-crop, a centred
            square. It may reach past the image edges.
        image_size: (width, height) of the original image, as ``PIL.Image.size``.

    Returns:
        float32 (height, width) in [0, 1]: the heat map upsampled bilinearly over the box
        and zero outside it.
    """
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise ValueError(f"heatmap must be a non-empty (h, w) array, got shape {heatmap.shape}")
    width, height = (int(v) for v in image_size)
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size must be positive (width, height), got {image_size}")
    left, top, right, bottom = (float(v) for v in crop_box)
    if not (right > left and bottom > top):
        raise ValueError(f"crop_box must be (left, top, right, bottom) with area, got {crop_box}")
    cols = _interp_matrix(width, left, right, heatmap.shape[1])
    rows = _interp_matrix(height, top, bottom, heatmap.shape[0])
    # Separable bilinear: (H, h) @ (h, w) @ (w, W); rows/cols outside the box are zero.
    full: np.ndarray = np.clip((rows @ heatmap) @ cols.T, 0.0, 1.0)
    return full.astype(np.float32, copy=False)
