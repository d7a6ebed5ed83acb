"""The architectures ResLens knows: how to build each, where its head and CAM layer are.

torchvision is imported inside the functions that need it, so that listing architectures and
reading model files stays cheap.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ModelLoadError
from engine.imaging.preprocess import PreprocessSpec

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Architecture:
    """One supported network: its torchvision builder and where its parts live.

    ``cam_layer`` is the last convolutional stage (Grad-CAM target); ``classifier`` the final
    linear layer that fine-tuning replaces. Both are attribute names on the torchvision model,
    so an exported graph's classifier weight is the initializer ``{classifier}.weight`` (K, C).
    ``relu_before_pool``: the network applies a ReLU between ``cam_layer`` and the pooling
    (DenseNet; a ResNet's stages end in their own ReLU), so CAM features need one too.
    """

    name: str
    display_name: str
    cam_layer: str
    classifier: str
    params_millions: float
    gflops: float
    weights_url: str  # torchvision's default ImageNet weights (a test checks they agree)
    relu_before_pool: bool = False

    @property
    def head_weight(self) -> str:
        """Qualified name of the classifier's weight parameter, float32 (K, C)."""
        return f"{self.classifier}.weight"


_TV = "https://download.pytorch.org/models/"

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "resnet18", "ResNet-18", "layer4", "fc", 11.7, 1.81, _TV + "resnet18-f37072fd.pth"
        ),
        Architecture(
            "resnet34", "ResNet-34", "layer4", "fc", 21.8, 3.66, _TV + "resnet34-b627a593.pth"
        ),
        Architecture(
            "resnet50", "ResNet-50", "layer4", "fc", 25.6, 4.09, _TV + "resnet50-11ad3fa6.pth"
        ),
        Architecture(
            "resnet101", "ResNet-101", "layer4", "fc", 44.5, 7.80, _TV + "resnet101-cd907fc2.pth"
        ),
        Architecture(
            "resnet152", "ResNet-152", "layer4", "fc", 60.2, 11.51, _TV + "resnet152-f82ba261.pth"
        ),
        Architecture(
            "densenet121",
            "DenseNet-121",
            "features",
            "classifier",
            8.0,
            2.83,
            _TV + "densenet121-a639ec97.pth",
            relu_before_pool=True,
        ),
    )
}
DEFAULT_ARCH = "resnet50"


def get_architecture(name: str) -> Architecture:
    """Look an architecture up by name, with a precise error naming the known ones.

    >>> get_architecture("resnet18").cam_layer
    'layer4'
    """
    key = name.strip().lower().replace("-", "")
    if key in ARCHITECTURES:
        return ARCHITECTURES[key]
    close = difflib.get_close_matches(key, list(ARCHITECTURES), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    known = ", ".join(ARCHITECTURES)
    raise ModelLoadError(f"Unknown architecture {name!r}.{hint} Known: {known}.")


def build_model(arch: str, *, num_classes: int = 1000) -> nn.Module:
    """A freshly initialised network (no pretrained weights) with ``num_classes`` outputs."""
    import torchvision

    spec = get_architecture(arch)
    return torchvision.models.get_model(spec.name, weights=None, num_classes=num_classes)


def replace_head(model: nn.Module, arch: str, num_classes: int) -> nn.Linear:
    """Swap the final linear layer for a new one with ``num_classes`` outputs; return it."""
    from torch import nn

    spec = get_architecture(arch)
    old = classifier_layer(model, arch)
    new = nn.Linear(old.in_features, num_classes)
    setattr(model, spec.classifier, new)
    return new


def classifier_layer(model: nn.Module, arch: str) -> nn.Linear:
    """The model's final linear layer (pooled features -> logits)."""
    return getattr(model, get_architecture(arch).classifier)  # type: ignore[no-any-return]


def cam_target_layer(model: nn.Module, arch: str) -> nn.Module:
    """The last convolutional stage, whose activations Grad-CAM explains."""
    return getattr(model, get_architecture(arch).cam_layer)  # type: ignore[no-any-return]


def pretrained_weights(arch: str) -> Any:
    """torchvision's recommended ImageNet weights entry (URL, transforms, categories)."""
    import torchvision

    spec = get_architecture(arch)
    return torchvision.models.get_model_weights(spec.name).DEFAULT


def imagenet_categories(arch: str) -> tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's offline metadata."""
    return tuple(pretrained_weights(arch).meta["categories"])


def pretrained_preprocess(arch: str) -> PreprocessSpec:
    """The preprocessing the pretrained weights were evaluated with."""
    transforms = pretrained_weights(arch).transforms()
    return PreprocessSpec(
        resize=int(transforms.resize_size[0]),
        crop=int(transforms.crop_size[0]),
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
    )
