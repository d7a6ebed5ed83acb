"""What a network is made of, measured on the network itself: stem, stages, head, parameters,
FLOPs and the receptive field of its CAM layer.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` during one forward pass of a
zero image at the model's input size: convolutions and matrix products, a multiply-add counted
as two FLOPs (torchvision's "GFLOPS" column counts it as one, so its 1.81 for ResNet-18 at
224 px is our 3.63). Batch norm, ReLU, pooling and the residual additions are not counted.

The receptive field is the theoretical one of the longest path to the CAM layer: every
convolution and pooling layer in execution order except the shortcut projections
(``downsample``), r += (k_eff - 1) * j and j *= stride from r = j = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.models.registry import get_architecture

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class Stage:
    """One stage of residual (or dense) blocks; ``out_size`` is its feature map side in px."""

    name: str
    block: str  # "BasicBlock", "Bottleneck", "DenseLayer"
    blocks: int
    width: int  # channels inside the blocks (a Bottleneck's 3x3 width)
    out_channels: int
    out_size: int


@dataclass(frozen=True)
class Anatomy:
    """The parts and costs of one network at ``input_size`` x ``input_size`` px."""

    stem: str
    stages: tuple[Stage, ...]
    head: str
    params: int
    gflops: float  # per image, multiply-add = 2 FLOPs (FlopCounterMode)
    input_size: int
    cam_layer: str
    cam_channels: int
    cam_size: int
    receptive_field: int  # px, theoretical, at the CAM layer
    cam_stride: int  # px of input per CAM cell

    def stage_table(self) -> list[str]:
        """Plain-text rows: stage, block type, count, width, output channels and size."""
        rows = [f"{'stage':<11} {'block':<11} {'blocks':>6} {'width':>6} {'out':>6} {'size':>7}"]
        for s in self.stages:
            size = f"{s.out_size}x{s.out_size}"
            rows.append(
                f"{s.name:<11} {s.block:<11} {s.blocks:>6} {s.width:>6} {s.out_channels:>6} {size:>7}"
            )
        return rows


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def anatomy(model: nn.Module, arch: str, input_size: int) -> Anatomy:
    """Describe ``model`` (an architecture from the registry, maybe pruned) by running one
    float32 zero image (1, 3, input_size, input_size) through it on the CPU."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    spec = get_architecture(arch)
    stages = _stage_modules(model, arch)
    shapes: dict[str, tuple[int, ...]] = {}
    spatial: list[tuple[str, nn.Module]] = []
    hooks = [
        m.register_forward_hook(_shape_keeper(shapes, name)) for name, m in model.named_modules()
    ]
    hooks += [
        m.register_forward_pre_hook(_order_keeper(spatial, name, m))
        for name, m in model.named_modules()
        if _is_spatial(m) and "downsample" not in name
    ]
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    cam_shape = shapes[spec.cam_layer]
    rf, jump = receptive_field(m for name, m in spatial if name.split(".")[0] != spec.classifier)
    return Anatomy(
        stem=_stem(model, arch),
        stages=tuple(_stage(name, blocks, shapes) for name, blocks in stages),
        head=_head(model, arch),
        params=count_params(model),
        gflops=counter.get_total_flops() / 1e9,
        input_size=input_size,
        cam_layer=spec.cam_layer,
        cam_channels=cam_shape[1],
        cam_size=cam_shape[2],
        receptive_field=rf,
        cam_stride=jump,
    )


def receptive_field(layers: Iterable[nn.Module]) -> tuple[int, int]:
    """(receptive field, jump) in input px after ``layers`` (convs and pools) in order; the CAM
    layer is the last stage, so everything before the head counts."""
    r, j = 1, 1
    for layer in layers:
        k, s, d = _kernel(layer)
        r += (d * (k - 1)) * j
        j *= s
    return r, j


def _kernel(layer: nn.Module) -> tuple[int, int, int]:
    def first(value: int | tuple[int, ...]) -> int:
        return value if isinstance(value, int) else int(value[0])

    dilation = getattr(layer, "dilation", 1)
    return first(layer.kernel_size), first(layer.stride), first(dilation)  # type: ignore[arg-type]


def _is_spatial(module: nn.Module) -> bool:
    from torch import nn

    return isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d)


def _shape_keeper(shapes: dict[str, tuple[int, ...]], name: str) -> Callable[..., None]:
    def keep(module: nn.Module, args: object, output: torch.Tensor) -> None:
        if hasattr(output, "shape"):
            shapes[name] = tuple(output.shape)

    return keep


def _order_keeper(
    order: list[tuple[str, nn.Module]], name: str, module: nn.Module
) -> Callable[..., None]:
    def keep(mod: nn.Module, args: object) -> None:
        order.append((name, module))

    return keep


def _stage_modules(model: Any, arch: str) -> list[tuple[str, list[Any]]]:
    if arch.startswith("resnet"):
        return [(f"layer{i}", list(getattr(model, f"layer{i}"))) for i in range(1, 5)]
    features = model.features  # DenseNet (module attributes are typed loosely: Any)
    return [
        (name, list(block.children()))
        for name, block in features.named_children()
        if name.startswith("denseblock")
    ]


def _stage(name: str, blocks: list[Any], shapes: dict[str, tuple[int, ...]]) -> Stage:
    block = type(blocks[0]).__name__.replace("_", "")
    width = int(blocks[0].conv2.out_channels)
    shape = shapes[f"features.{name}" if block == "DenseLayer" else name]
    return Stage(name, block, len(blocks), width, shape[1], shape[2])


def _stem(model: Any, arch: str) -> str:
    conv = model.conv1 if arch.startswith("resnet") else model.features.conv0
    pool = model.maxpool if arch.startswith("resnet") else model.features.pool0
    k, s = conv.kernel_size[0], conv.stride[0]
    return (
        f"{k}x{k} convolution, stride {s}, {conv.out_channels} channels; batch norm, ReLU; "
        f"{pool.kernel_size}x{pool.kernel_size} max pool, stride {pool.stride}"
    )


def _head(model: Any, arch: str) -> str:
    fc = getattr(model, get_architecture(arch).classifier)
    return f"global average pool, then a linear layer {fc.in_features} -> {fc.out_features} classes"
