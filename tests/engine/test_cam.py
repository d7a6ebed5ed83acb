"""Grad-CAM: it localizes, equals plain CAM for pooled heads, and leaves the model as it was."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from engine.explain.cam import CamResult, GradCAM, class_activation_map, explain, heatmap_to_image

SIZE = 64  # generated images are SIZE x SIZE
OBJ = 14  # objects are drawn in an OBJ x OBJ box
NUM_CLASSES = 3  # 0: filled square, 1: disc, 2: cross


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _shape_mask(kind: int) -> np.ndarray:
    """bool (OBJ, OBJ): 0 filled square, 1 disc, 2 cross with 5 px arms."""
    yy, xx = np.mgrid[0:OBJ, 0:OBJ]
    centre = (OBJ - 1) / 2
    if kind == 0:
        return np.ones((OBJ, OBJ), dtype=bool)
    if kind == 1:
        return (yy - centre) ** 2 + (xx - centre) ** 2 <= (OBJ / 2) ** 2
    return (np.abs(yy - centre) <= 2) | (np.abs(xx - centre) <= 2)


def _make_shapes(
    n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int, int, int]]]:
    """Noise images with one bright shape at a random place.

    Returns images float32 (n, 3, SIZE, SIZE) in [0, 1], labels int64 (n,), and each
    shape's box (left, top, right, bottom) in pixels.
    """
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.5, (n, 3, SIZE, SIZE)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, n)
    boxes = []
    for i in range(n):
        x, y = (int(v) for v in rng.integers(0, SIZE - OBJ + 1, 2))
        colour = rng.uniform(0.7, 1.0, 3).astype(np.float32)
        images[i, :, y : y + OBJ, x : x + OBJ][:, _shape_mask(int(labels[i]))] = colour[:, None]
        boxes.append((x, y, x + OBJ, y + OBJ))
    return torch.from_numpy(images), torch.from_numpy(labels), boxes


def _conv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TinyNet(nn.Module):
    """ResNet-shaped: conv stages (64 -> 16 px) -> global average pool -> linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv(3, 16, 2)
        self.layer1 = _conv(16, 32, 2)
        self.layer2 = nn.Sequential(_conv(32, 32, 1), _conv(32, 48, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(48, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.layer2(self.layer1(self.stem(x)))
        return self.fc(self.pool(features).flatten(1))


@pytest.fixture(scope="module")
def trained_net() -> TinyNet:
    """TinyNet trained for ~2-3 s on CPU to tell the three shapes apart."""
    torch.manual_seed(0)
    images, labels, _ = _make_shapes(768, seed=0)
    net = TinyNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(5):
        order = torch.randperm(len(images))
        for start in range(0, len(images), 32):
            idx = order[start : start + 32]
            loss = nn.functional.cross_entropy(net(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.zero_grad(set_to_none=True)
    return net.eval()


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module")
def photo_batch() -> torch.Tensor:
    return torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def _layer4_features(model: nn.Module, batch: torch.Tensor) -> np.ndarray:
    """float32 (512, 7, 7) output of a ResNet's layer4 for one image."""
    captured: list[torch.Tensor] = []
    handle = model.layer4.register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        with torch.no_grad():
            model(batch)
    finally:
        handle.remove()
    return captured[0][0].numpy()


def test_gradcam_peak_falls_on_the_object(trained_net: TinyNet) -> None:
    images, labels, boxes = _make_shapes(100, seed=1)
    with torch.no_grad():
        accuracy = (trained_net(images).argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.9, "the tiny CNN did not learn the shapes; the test proves nothing"
    margin = 3  # px; one cell of the 16x16 map is 4 px
    hits = 0
    with GradCAM(trained_net, trained_net.layer2) as cam:
        for i, (left, top, right, bottom) in enumerate(boxes):
            result = cam(images[i : i + 1], class_index=int(labels[i]))
            full = heatmap_to_image(result.heatmap, (0.0, 0.0, SIZE, SIZE), (SIZE, SIZE))
            y, x = np.unravel_index(int(full.argmax()), full.shape)
            hits += left - margin <= x < right + margin and top - margin <= y < bottom + margin
    assert hits / len(boxes) >= 0.9


@pytest.mark.parametrize("class_index", range(NUM_CLASSES))
def test_gradcam_equals_plain_cam_for_pooled_linear_head(
    trained_net: TinyNet, class_index: int
) -> None:
    images, _, _ = _make_shapes(1, seed=2)
    with torch.no_grad():
        features = trained_net.layer2(trained_net.layer1(trained_net.stem(images)))[0].numpy()
    expected = class_activation_map(features, trained_net.fc.weight.detach().numpy(), class_index)
    result = explain(trained_net, trained_net.layer2, images, class_index)
    assert expected.max() == pytest.approx(1.0)
    np.testing.assert_allclose(result.heatmap, expected, atol=1e-5)


def test_gradcam_equals_plain_cam_on_resnet18(
    resnet18: nn.Module, photo_batch: torch.Tensor
) -> None:
    features = _layer4_features(resnet18, photo_batch)
    result = explain(resnet18, resnet18.layer4, photo_batch)
    fc_weight = resnet18.fc.weight.detach().numpy()
    expected = class_activation_map(features, fc_weight, result.class_index)
    np.testing.assert_allclose(result.heatmap, expected, atol=1e-5)


def test_resnet18_result_shapes_ranges_and_class_choice(
    resnet18: nn.Module, photo_batch: torch.Tensor
) -> None:
    with torch.no_grad():
        logits = resnet18(photo_batch)[0]
    top1 = explain(resnet18, resnet18.layer4, photo_batch)
    assert isinstance(top1, CamResult)
    assert top1.heatmap.shape == (7, 7) and top1.heatmap.dtype == np.float32
    assert top1.heatmap.min() >= 0.0 and top1.heatmap.max() == pytest.approx(1.0)
    assert top1.class_index == int(logits.argmax())
    assert top1.score == pytest.approx(float(logits.max()), rel=1e-5)
    assert top1.logits.shape == (1000,) and top1.logits.dtype == np.float32
    np.testing.assert_allclose(top1.logits, logits.numpy(), rtol=1e-5, atol=1e-5)

    other = (top1.class_index + 1) % 1000
    chosen = explain(resnet18, resnet18.layer4, photo_batch, class_index=other)
    assert chosen.class_index == other
    assert chosen.score == pytest.approx(float(logits[other]), rel=1e-5)
    assert not np.allclose(chosen.heatmap, top1.heatmap, atol=1e-3)


def test_error_removes_hook_and_restores_model(trained_net: TinyNet) -> None:
    images, _, _ = _make_shapes(1, seed=3)
    frozen = trained_net.stem[0].weight
    frozen.requires_grad_(False)
    trained_net.train()
    try:
        with (
            pytest.raises(ValueError, match="out of range"),
            GradCAM(trained_net, trained_net.layer2) as cam,
        ):
            assert len(trained_net.layer2._forward_hooks) == 1
            assert not any(p.requires_grad for p in trained_net.parameters())
            cam(images, class_index=NUM_CLASSES)
        assert len(trained_net.layer2._forward_hooks) == 0
        assert trained_net.training
        assert not frozen.requires_grad
        assert all(p.requires_grad for p in trained_net.parameters() if p is not frozen)
        assert all(p.grad is None for p in trained_net.parameters())
    finally:
        frozen.requires_grad_(True)
        trained_net.eval()


def test_call_leaves_grads_bn_stats_and_mode_untouched(trained_net: TinyNet) -> None:
    images, _, _ = _make_shapes(1, seed=4)
    bn = trained_net.layer2[1][1]
    stats = bn.running_mean.clone()
    evaluated = explain(trained_net, trained_net.layer2, images)
    trained_net.train()
    try:
        from_train_mode = explain(trained_net, trained_net.layer2, images)
        assert trained_net.training
    finally:
        trained_net.eval()
    # Grad-CAM runs in eval mode: same map, and BatchNorm statistics not updated.
    np.testing.assert_array_equal(from_train_mode.heatmap, evaluated.heatmap)
    assert torch.equal(bn.running_mean, stats)
    assert all(p.grad is None and p.requires_grad for p in trained_net.parameters())
    assert len(trained_net.layer2._forward_hooks) == 0


def test_works_with_inference_mode_tensors(trained_net: TinyNet) -> None:
    images, _, _ = _make_shapes(1, seed=5)
    expected = explain(trained_net, trained_net.layer2, images).heatmap
    with torch.inference_mode():
        batch = images.clone()
        inside = explain(trained_net, trained_net.layer2, batch).heatmap
    outside = explain(trained_net, trained_net.layer2, batch).heatmap
    np.testing.assert_array_equal(inside, expected)
    np.testing.assert_array_equal(outside, expected)


def test_misuse_raises(trained_net: TinyNet) -> None:
    images, _, _ = _make_shapes(2, seed=6)
    cam = GradCAM(trained_net, trained_net.layer2)
    with pytest.raises(RuntimeError, match="context manager"):
        cam(images[:1])
    with cam, pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        cam(images)
    with pytest.raises(ValueError, match="out of range"):
        explain(trained_net, trained_net.layer2, images[:1], class_index=-1)
    with pytest.raises(RuntimeError, match="did not run"):
        explain(trained_net, nn.Identity(), images[:1])
    assert len(trained_net.layer2._forward_hooks) == 0


def test_class_activation_map_without_positive_evidence_is_zeros() -> None:
    features = np.ones((4, 3, 3), dtype=np.float32)
    heatmap = class_activation_map(features, -np.ones((2, 4), dtype=np.float32), 1)
    assert heatmap.dtype == np.float32
    np.testing.assert_array_equal(heatmap, np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="fc_weight"):
        class_activation_map(features, np.ones((2, 5), dtype=np.float32), 0)
    with pytest.raises(ValueError, match="out of range"):
        class_activation_map(features, np.ones((2, 4), dtype=np.float32), 2)


def test_cam_module_does_not_import_torch() -> None:
    code = "import sys, engine.explain.cam; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_heatmap_to_image_on_a_wide_image_centre_crop() -> None:
    width, height = 400, 200
    box = (100.0, 0.0, 300.0, 200.0)  # resize shorter side to 200, centre-crop 200 x 200
    heatmap = np.zeros((7, 7), dtype=np.float32)
    heatmap[3, 0] = 1.0
    full = heatmap_to_image(heatmap, box, (width, height))
    assert full.shape == (height, width) and full.dtype == np.float32
    assert full[:, :100].max() == 0.0 and full[:, 300:].max() == 0.0
    y, x = np.unravel_index(int(full.argmax()), full.shape)
    assert 100 <= x < 100 + 200 / 7 and abs(y - 100) <= 200 / 14
    assert full[:, 160:].max() == 0.0  # beyond the hot cell's neighbours: cold
    # Pixel centres sit half a pixel off the cell centre, so the peak is just below 1.
    assert full.min() >= 0.0 and 0.95 < full.max() <= 1.0


def test_heatmap_to_image_fills_the_box_and_clips_to_the_image() -> None:
    full = heatmap_to_image(np.ones((4, 4)), (10.0, 20.0, 50.0, 60.0), (64, 80))
    inside = np.zeros((80, 64), dtype=bool)
    inside[20:60, 10:50] = True
    np.testing.assert_array_equal(full, inside.astype(np.float32))
    # A box reaching past the image (crop larger than the resized image) is clipped.
    past = heatmap_to_image(np.ones((2, 2)), (-10.0, -10.0, 30.0, 30.0), (20, 20))
    np.testing.assert_array_equal(past, np.ones((20, 20), dtype=np.float32))
    with pytest.raises(ValueError, match="crop_box"):
        heatmap_to_image(np.ones((2, 2)), (10.0, 0.0, 10.0, 5.0), (20, 20))
