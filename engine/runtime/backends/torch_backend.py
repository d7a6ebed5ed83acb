"""PyTorch inference: eager mode, channels-last on CPU, under ``torch.inference_mode``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import ModelLoadError
from engine.runtime.precision import FP32, Precision, autocast

if TYPE_CHECKING:
    import torch
    from torch import nn

    from engine.explain.cam import CamResult

log = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> str:
    """ "auto" -> "cuda" when a usable GPU is present, else "cpu". Checks an explicit "cuda"."""
    import torch

    device = device.strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError(
                "CUDA was requested but no usable NVIDIA GPU and driver were found; "
                "use --device cpu."
            )
        return device
    if device != "cpu":
        raise ModelLoadError(f"Unknown device {device!r}; use auto, cpu or cuda.")
    return device


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class TorchBackend:
    """Runs a torch module; ``cam_layer`` is the module Grad-CAM hooks.

    ``autocast``: the precision :meth:`logits` runs at (bf16 autocast where the hardware has
    it, see :mod:`engine.runtime.precision`); weights stay fp32 and Grad-CAM always runs fp32.
    """

    name = "torch"

    def __init__(
        self,
        model: nn.Module,
        cam_layer: nn.Module,
        *,
        device: str = "cpu",
        autocast: Precision = FP32,
    ) -> None:
        import torch

        self.device = device
        self.autocast = autocast
        self.precision = autocast.label
        self._torch_device = torch.device(device)
        # channels_last lets oneDNN pick its fastest convolution kernels on CPU (~20% here).
        self._memory_format = torch.channels_last
        self.model = model.eval().to(self._torch_device).to(memory_format=self._memory_format)
        self.cam_layer = cam_layer

    def _to_input(self, batch: np.ndarray) -> torch.Tensor:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        return tensor.to(self._torch_device).contiguous(memory_format=self._memory_format)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode(), autocast(self.autocast):
            out = self.model(self._to_input(batch))
        return out.float().cpu().numpy()

    def cam(self, batch: np.ndarray, class_index: int | None) -> CamResult:
        from engine.explain.cam import GradCAM

        with GradCAM(self.model, self.cam_layer) as cam:
            return cam(self._to_input(batch), class_index=class_index)
