"""INT8 quantization: a trained model keeps its answers, heat maps still work, the CLI reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.errors import ExportError
from engine.imaging.preprocess import PreprocessSpec
from engine.models.model_file import ModelInfo, save_model_file
from engine.onnx.export import export_verified
from engine.onnx.quantize import quantize_int8
from engine.runtime.backends.onnx_backend import onnx_classifier
from engine.runtime.build import load_model_classifier
from engine.runtime.classifier import Classifier

SIZE, OBJ = 32, 10  # image side; the shape's box
CLASSES = ("square", "disc", "cross")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _shapes(count: int, seed: int) -> tuple[list[Image.Image], np.ndarray]:
    """Noise images with one bright square, disc or cross at a random place; labels 0..2."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:OBJ, 0:OBJ]
    centre = (OBJ - 1) / 2
    masks = [
        np.ones((OBJ, OBJ), bool),
        (yy - centre) ** 2 + (xx - centre) ** 2 <= (OBJ / 2) ** 2,
        (np.abs(yy - centre) <= 1) | (np.abs(xx - centre) <= 1),
    ]
    labels = rng.integers(0, 3, count)
    images = []
    for label in labels:
        pixels = rng.uniform(0, 0.5, (SIZE, SIZE, 3))
        x, y = rng.integers(0, SIZE - OBJ + 1, 2)
        pixels[y : y + OBJ, x : x + OBJ][masks[label]] = rng.uniform(0.7, 1.0, 3)
        images.append(Image.fromarray((pixels * 255).astype(np.uint8), "RGB"))
    return images, labels


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet-18 trained for a few seconds to tell the shapes apart, as a .reslens file."""
    from engine.models.registry import build_model

    spec = PreprocessSpec(resize=SIZE, crop=SIZE)
    images, labels = _shapes(256, seed=0)
    inputs, targets = torch.from_numpy(spec.to_batch(images)), torch.from_numpy(labels)
    torch.manual_seed(0)
    net = build_model("resnet18", num_classes=3)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(4):
        for idx in torch.randperm(len(inputs)).split(32):
            loss = torch.nn.functional.cross_entropy(net(inputs[idx]), targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    # Population batch-norm statistics in one pass: a few dozen steps leave them unsettled.
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        net(inputs)
    path = tmp_path_factory.mktemp("trained") / "shapes.reslens"
    save_model_file(path, net.state_dict(), ModelInfo("resnet18", CLASSES, spec))
    return path


@pytest.fixture(scope="module")
def torch_model(model_file: Path) -> Classifier:
    return load_model_classifier(model_file, device="cpu")


@pytest.fixture(scope="module")
def int8_path(torch_model: Classifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    fp32, _ = export_verified(torch_model)
    calibration, _ = _shapes(64, seed=1)
    out = tmp_path_factory.mktemp("int8") / "shapes.int8.onnx"
    quantize_int8(fp32, out, calibration=calibration, calibration_source="shape images")
    return out


def test_int8_model_keeps_the_trained_models_answers(
    torch_model: Classifier, int8_path: Path
) -> None:
    images, labels = _shapes(200, seed=2)
    batch = torch_model.preprocess.to_batch(images)
    want = torch_model.backend.logits(batch).argmax(1)
    assert (want == labels).mean() >= 0.8, "the model did not learn the shapes; test is moot"
    int8 = onnx_classifier(int8_path, device="cpu")
    got = int8.backend.logits(batch).argmax(1)
    assert (got == want).mean() >= 0.95
    assert int8.backend.info.quantization.startswith("int8 static QDQ")
    assert int8.class_names == CLASSES


def test_int8_model_still_draws_heat_maps(int8_path: Path) -> None:
    int8 = onnx_classifier(int8_path, device="cpu")
    image = _shapes(1, seed=3)[0][0].resize((96, 64))
    explanation = int8.explain(image)
    assert explanation.heatmap.shape == (64, 96)
    assert explanation.label in CLASSES


def test_int8_heat_maps_follow_the_fp32_ones(tmp_path: Path) -> None:
    """At 160 px (5x5 maps), dequantized features give nearly the same class maps."""
    from engine.models.registry import build_model
    from engine.runtime.backends.torch_backend import TorchBackend
    from engine.runtime.classifier import ModelSource
    from tests.conftest import photo

    torch.manual_seed(0)
    net = build_model("resnet18", num_classes=4)
    classifier = Classifier(
        TorchBackend(net, net.layer4, device="cpu"),
        class_names=("a", "b", "c", "d"),
        preprocess=PreprocessSpec.for_crop(160),
        source=ModelSource("test net", "resnet18", "random", False),
    )
    check = [photo(200, 180, seed=s) for s in range(4)]
    fp32, _ = export_verified(classifier, images=check)
    calibration = [photo(200, 180, seed=s) for s in range(10, 26)]
    int8, _ = quantize_int8(fp32, None, calibration=calibration, images=check, tolerance=None)
    fp32_model, int8_model = onnx_classifier(fp32), onnx_classifier(int8)
    for seed, class_index in ((20, 0), (21, 1), (22, 2), (23, 3)):
        image = photo(280, 250, seed=seed)
        want = fp32_model.explain(image, class_index=class_index).heatmap
        got = int8_model.explain(image, class_index=class_index).heatmap
        assert np.corrcoef(want.ravel(), got.ravel())[0, 1] >= 0.98


def test_cli_quantizes_with_calibration_images(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "calibration"
    folder.mkdir()
    for i, image in enumerate(_shapes(24, seed=4)[0]):
        image.save(folder / f"{i}.png")
    out = tmp_path / "q.onnx"
    args = ["export", str(model_file), "--quantize", "int8", "--calibration", str(folder)]
    assert main([*args, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "calibrated on 12 images from" in err
    assert "int8 vs onnxruntime fp32 on 12 held-out images" in err
    assert "top-1 agreement" in err and "images/s" in err
    assert onnx_classifier(out, device="cpu").class_names == CLASSES


def test_a_quantized_model_is_not_quantized_again(int8_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="already quantized"):
        quantize_int8(int8_path, tmp_path / "again.onnx")
    assert not (tmp_path / "again.onnx").exists()
