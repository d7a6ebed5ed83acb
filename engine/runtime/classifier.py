"""Classify images: top-k predictions and Grad-CAM explanations from one :class:`Classifier`.

>>> clf = load_classifier("resnet18", weights="none", device="cpu")  # doctest: +SKIP
>>> clf.predict([load_image("cat.jpg")], top_k=3)[0].label            # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.imaging.preprocess import CropBox, PreprocessSpec
from engine.probabilities import softmax

if TYPE_CHECKING:
    from PIL import Image

    from engine.runtime.backends import Backend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The top-k classes for one image, most likely first. ``probs`` are in [0, 1]."""

    labels: tuple[str, ...]
    indices: tuple[int, ...]
    probs: tuple[float, ...]

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def index(self) -> int:
        return self.indices[0]

    @property
    def prob(self) -> float:
        return self.probs[0]

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"label": label, "index": index, "prob": round(prob, 6)}
            for label, index, prob in zip(self.labels, self.indices, self.probs, strict=True)
        ]


@dataclass(frozen=True)
class ModelSource:
    """Which model is loaded and from where, for status bars and reports."""

    name: str  # "ResNet-50" or a file name
    arch: str
    weights: str  # "ImageNet (cache: /path)", "random init", "/path/model.reslens" ...
    pretrained: bool


@dataclass(frozen=True)
class Explanation:
    """A Grad-CAM map for one image and class, in the original image's geometry."""

    heatmap: np.ndarray  # float32 (height, width) in [0, 1]; zero outside the model's crop
    class_index: int
    label: str
    prob: float
    crop_box: CropBox
    prediction: Prediction  # top-k for the same image, from the same forward pass


def top_k(probs: np.ndarray, class_names: Sequence[str], k: int) -> list[Prediction]:
    """(N, C) probabilities -> one :class:`Prediction` per row with the ``k`` best classes."""
    k = max(1, min(k, probs.shape[1]))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [
        Prediction(
            labels=tuple(class_names[i] for i in row),
            indices=tuple(int(i) for i in row),
            probs=tuple(float(p) for p in probs[n, row]),
        )
        for n, row in enumerate(order)
    ]


class Classifier:
    """A model ready to classify: backend + class names + preprocessing (+ temperature)."""

    def __init__(
        self,
        backend: Backend,
        *,
        class_names: Sequence[str],
        preprocess: PreprocessSpec,
        source: ModelSource,
        temperature: float = 1.0,
    ) -> None:
        self.backend = backend
        self.class_names = tuple(class_names)
        self.preprocess = preprocess
        self.source = source
        self.temperature = temperature

    @property
    def device(self) -> str:
        return self.backend.device

    def describe(self) -> str:
        backend = f"{self.backend.name} {self.backend.precision}"
        return f"{self.source.name} · {self.source.weights} · {backend} on {self.device}"

    def predict_batch(self, batch: np.ndarray, top_k_: int = 5) -> list[Prediction]:
        """float32 (N, 3, crop, crop) normalised batch -> N predictions."""
        probs = softmax(self.backend.logits(batch), self.temperature)
        return top_k(probs, self.class_names, top_k_)

    def predict(self, images: Sequence[Image.Image], top_k: int = 5) -> list[Prediction]:
        """RGB PIL images of any size -> one prediction each."""
        if not images:
            return []
        return self.predict_batch(self.preprocess.to_batch(images), top_k)

    def explain(
        self,
        image: Image.Image,
        class_index: int | None = None,
        *,
        top_k_: int = 5,
        model_image: Image.Image | None = None,
    ) -> Explanation:
        """Grad-CAM for ``class_index`` (default: the top-1 class) on the original image.

        ``model_image``: the same photo decoded as folder classification decodes it (reduced
        JPEG decoding, see :func:`engine.imaging.decode.load_image`), so that the probabilities shown
        with the map are exactly those of the batch results; the map is still laid over
        ``image``, whose geometry it must share up to scale.
        """
        from engine.explain.cam import heatmap_to_image

        if class_index is not None and not 0 <= class_index < len(self.class_names):
            raise ValueError(
                f"class_index {class_index} out of range 0..{len(self.class_names) - 1}"
            )
        batch = self.preprocess.to_array(image if model_image is None else model_image)[None]
        result = self.backend.cam(batch, class_index)
        box = self.preprocess.crop_box(*image.size)
        heatmap = heatmap_to_image(result.heatmap, box, image.size)
        probs = softmax(result.logits[None], self.temperature)
        prediction = top_k(probs, self.class_names, top_k_)[0]
        return Explanation(
            heatmap=heatmap,
            class_index=result.class_index,
            label=self.class_names[result.class_index],
            prob=float(probs[0, result.class_index]),
            crop_box=box,
            prediction=prediction,
        )
