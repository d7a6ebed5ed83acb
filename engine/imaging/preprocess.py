"""How an image becomes the tensor a model expects, described as data.

A :class:`PreprocessSpec` (resize, crop, mean, std) travels with every model: in torchvision's
weights metadata, in our model files and in ONNX metadata. Evaluation preprocessing is done with
Pillow and numpy only, so the ONNX path never imports torch; training augments with Pillow too
(:mod:`engine.training.data`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CropBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class PreprocessSpec:
    """Resize the shorter side to ``resize``, centre-crop ``crop`` x ``crop``, normalise.

    ``mean``/``std`` are per channel, for pixel values scaled to [0, 1].
    """

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.crop <= 0 or self.resize < self.crop:
            raise ValueError(f"need 0 < crop <= resize, got crop={self.crop} resize={self.resize}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need three values each, std > 0")

    @classmethod
    def for_crop(cls, crop: int) -> PreprocessSpec:
        """The ImageNet convention (resize = crop * 256 / 224) for another input size."""
        return cls(resize=round(crop * 256 / 224), crop=crop)

    def describe(self) -> str:
        return (
            f"resize shorter side to {self.resize} px, centre crop {self.crop}x{self.crop}, "
            f"normalise mean={_fmt(self.mean)} std={_fmt(self.std)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessSpec:
        return cls(
            resize=int(data["resize"]),
            crop=int(data["crop"]),
            mean=_triple(data.get("mean", IMAGENET_MEAN)),
            std=_triple(data.get("std", IMAGENET_STD)),
        )

    def crop_box(self, width: int, height: int) -> CropBox:
        """The region (left, top, right, bottom) of a ``width`` x ``height`` image the net sees."""
        side = min(width, height) * self.crop / self.resize
        left = (width - side) / 2
        top = (height - side) / 2
        return (left, top, left + side, top + side)

    def to_array(self, image: Image.Image) -> np.ndarray:
        """RGB image of any size -> float32 (3, crop, crop), normalised.

        Crop and resize happen in one antialiased Pillow resize of the crop box, which matches
        torchvision's Resize + CenterCrop to within interpolation rounding and avoids resizing
        pixels that the crop throws away.
        """
        if image.mode != "RGB":
            image = image.convert("RGB")
        box = self.crop_box(*image.size)
        size = (self.crop, self.crop)
        resized = image.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)
        pixels = np.asarray(resized, dtype=np.float32)
        scale = np.asarray(self.std, dtype=np.float32) * 255.0
        offset = np.asarray(self.mean, dtype=np.float32) * 255.0
        return ((pixels - offset) / scale).transpose(2, 0, 1).copy()

    def to_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Several images -> float32 (N, 3, crop, crop)."""
        batch = np.empty((len(images), 3, self.crop, self.crop), dtype=np.float32)
        for i, image in enumerate(images):
            batch[i] = self.to_array(image)
        return batch


def _triple(values: Sequence[float]) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return (a, b, c)


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"
