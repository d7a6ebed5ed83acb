"""Grad-CAM over the whole photo, not only the centre crop the classifier sees.

A classifier looks at a centred square (resize the shorter side, crop the middle), so on a wide
photo or a panorama the usual map is blank left and right of that square. Here the photo is
resized (not cropped) so that its shorter side is the network's input size, and explained
everywhere:

* a backend that accepts any input size (torch: a ResNet is fully convolutional before its
  pooled head) runs once on the whole resized photo;
* a backend with a fixed input size (an exported ONNX graph) runs on overlapping squares of
  its input size, half a square apart; each square's map is weighted by that square's
  probability for the class, so squares without the class add little, then the largest value
  at each pixel is kept.

Either way the map explains one class, chosen by the caller (the centre crop's class, so that
both maps answer the same question).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from engine.explain.cam import CamResult, heatmap_to_image
from engine.imaging.preprocess import PreprocessSpec
from engine.probabilities import softmax

CamFn = Callable[[np.ndarray, int | None], CamResult]


class _Explainable(Protocol):
    """What :func:`explain_whole_photo` needs of a classifier."""

    preprocess: PreprocessSpec

    @property
    def backend(self) -> _CamBackend: ...


class _CamBackend(Protocol):
    name: str

    def cam(self, batch: np.ndarray, class_index: int | None) -> CamResult: ...


@dataclass(frozen=True)
class WholePhotoMap:
    """heatmap: float32 (height, width) in [0, 1] with the photo's geometry; ``passes``: how
    many forward passes it took (1, or the number of squares)."""

    heatmap: np.ndarray
    class_index: int
    passes: int


def explain_whole_photo(
    classifier: _Explainable, image: Image.Image, class_index: int
) -> WholePhotoMap:
    """The whole-photo map of ``class_index`` for ``image`` (any size, any mode)."""
    any_size = classifier.backend.name == "torch"
    return whole_photo_heatmap(
        classifier.backend.cam, image, classifier.preprocess, class_index, any_size=any_size
    )


def whole_photo_heatmap(
    cam: CamFn, image: Image.Image, spec: PreprocessSpec, class_index: int, *, any_size: bool
) -> WholePhotoMap:
    """See the module docstring. ``cam(batch (1, 3, H, W), class_index) -> CamResult``."""
    width, height = image.size
    pixels = _normalised(image, spec)  # (3, H, W), shorter side = spec.crop
    if any_size:
        result = cam(pixels[None], class_index)
        heat, passes = result.heatmap, 1
    else:
        heat, passes = _tiled(cam, pixels, spec.crop, class_index)
    full = heatmap_to_image(heat, (0.0, 0.0, float(width), float(height)), (width, height))
    return WholePhotoMap(full, class_index, passes)


def _normalised(image: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    width, height = image.size
    scale = spec.crop / min(width, height)
    size = (max(spec.crop, round(width * scale)), max(spec.crop, round(height * scale)))
    resized = image.convert("RGB").resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    pixels = np.asarray(resized, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32) * 255.0
    mean = np.asarray(spec.mean, dtype=np.float32) * 255.0
    return ((pixels - mean) / std).transpose(2, 0, 1).copy()


def _starts(length: int, side: int) -> list[int]:
    """Window starts covering ``length`` with windows of ``side``, half a window apart."""
    if length <= side:
        return [0]
    starts = list(range(0, length - side, max(1, side // 2)))
    return [*starts, length - side]


def _tiled(cam: CamFn, pixels: np.ndarray, side: int, class_index: int) -> tuple[np.ndarray, int]:
    _, height, width = pixels.shape
    total = np.zeros((height, width), dtype=np.float32)
    passes = 0
    for top in _starts(height, side):
        for left in _starts(width, side):
            window = pixels[:, top : top + side, left : left + side]
            result = cam(np.ascontiguousarray(window[None]), class_index)
            passes += 1
            weight = float(softmax(result.logits[None])[0, class_index])  # how sure this square is
            square = (0.0, 0.0, float(side), float(side))
            local = heatmap_to_image(result.heatmap, square, (side, side)) * weight
            view = total[top : top + side, left : left + side]
            np.maximum(view, local, out=view)
    peak = float(total.max())
    return (total / peak if peak > 0 else total), passes
