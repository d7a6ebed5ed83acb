"""ONNX Runtime backend: heat maps like torch's Grad-CAM, CPU fallback that says why and stays
quiet, and classification without importing torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ModelLoadError
from engine.imaging.preprocess import PreprocessSpec
from engine.onnx.export import export_onnx
from engine.runtime.backends.onnx_backend import OnnxBackend, onnx_classifier
from engine.runtime.classifier import Classifier, ModelSource
from tests.conftest import photo

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def torch_model() -> Classifier:
    """A 4-class ResNet-18 at 224 px (7x7 maps) with varied batch-norm statistics."""
    import torch

    from engine.models.registry import build_model
    from engine.runtime.backends.torch_backend import TorchBackend

    torch.manual_seed(0)
    net = build_model("resnet18", num_classes=4)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.bias.data.uniform_(-0.1, 0.1)
    return Classifier(
        TorchBackend(net, net.layer4, device="cpu"),
        class_names=("apple", "boat", "cloud", "door"),
        preprocess=PreprocessSpec(resize=256, crop=224),
        source=ModelSource("test net", "resnet18", "random", False),
    )


@pytest.fixture(scope="module")
def model_path(torch_model: Classifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "r18.onnx"
    export_onnx(torch_model, path)
    return path


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_heat_maps_match_torch_grad_cam(torch_model: Classifier, model_path: Path) -> None:
    onnx_model = onnx_classifier(model_path, device="cpu")
    compared = 0
    for seed in range(3):
        image = photo(300, 240, seed=seed)
        for class_index in (None, 1, 3):
            want = torch_model.explain(image, class_index)
            got = onnx_model.explain(image, class_index)
            assert got.class_index == want.class_index and got.label == want.label
            assert got.prob == pytest.approx(want.prob, abs=1e-4)
            assert got.heatmap.shape == want.heatmap.shape == (240, 300)
            if want.heatmap.std() < 1e-6:  # no positive evidence: both maps empty
                assert np.allclose(got.heatmap, want.heatmap, atol=1e-4)
                continue
            assert _correlation(got.heatmap, want.heatmap) >= 0.99
            compared += 1
    assert compared >= 6, "too few non-empty maps to prove anything"


def test_cpu_is_chosen_quietly_without_cuda(
    model_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    backend = OnnxBackend(model_path, device="auto")
    if backend.device.startswith("cuda"):
        pytest.skip("this machine has a working CUDA provider")
    assert backend.device == "cpu" and backend.provider == "CPUExecutionProvider"
    assert backend.provider_note.startswith("CPU provider: ")
    assert any(
        why in backend.provider_note
        for why in ("NVIDIA driver", "CUDA provider did not start", "no CUDA provider")
    )
    captured = capfd.readouterr()
    assert "onnxruntime" not in (captured.err + captured.out).lower()


def test_missing_cuda_libraries_fall_back_quietly_too(
    model_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver but no usable CUDA libraries: ONNX Runtime itself tries and fails to load its
    CUDA provider, which it normally reports with a screenful of errors."""
    from engine.runtime.backends import onnx_backend

    if OnnxBackend(model_path, device="auto").device.startswith("cuda"):
        pytest.skip("this machine has a working CUDA provider")
    capfd.readouterr()
    monkeypatch.setattr(onnx_backend, "_driver_missing_reason", lambda: None)
    backend = OnnxBackend(model_path, device="auto")
    assert backend.device == "cpu"
    assert "CUDA provider did not start" in backend.provider_note
    captured = capfd.readouterr()
    assert "onnxruntime" not in (captured.err + captured.out).lower()
    assert "failed to load" not in (captured.err + captured.out).lower()


def test_asking_for_cuda_without_it_says_what_to_do(model_path: Path) -> None:
    if OnnxBackend(model_path, device="auto").device.startswith("cuda"):
        pytest.skip("this machine has a working CUDA provider")
    with pytest.raises(ModelLoadError, match="--device cpu"):
        OnnxBackend(model_path, device="cuda")


def test_classifying_an_onnx_model_never_imports_torch(model_path: Path, tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    photo(320, 240).save(image)
    code = f"""
import sys
from engine.cli import main
from engine.imaging.decode import load_image
from engine.inference.loader import load_classifier
clf = load_classifier({str(model_path)!r}, device="auto")
clf.predict([load_image({str(image)!r})])
clf.explain(load_image({str(image)!r}))
assert main(["classify", {str(image)!r}, "--model", {str(model_path)!r}]) == 0
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "torchvision")))
print("TORCH:", loaded)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "TORCH: []" in done.stdout
    assert "[E:onnxruntime" not in done.stderr and "[W:onnxruntime" not in done.stderr


def test_a_foreign_onnx_file_is_refused_clearly(model_path: Path, tmp_path: Path) -> None:
    import onnx

    proto = onnx.load(str(model_path))
    del proto.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, str(foreign))
    with pytest.raises(ModelLoadError, match=r"no ResLens metadata.*reslens export"):
        onnx_classifier(foreign, device="cpu")


def test_a_damaged_onnx_file_is_refused_clearly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 this is not a protobuf model")
    with pytest.raises(ModelLoadError, match="is not a usable ONNX model"):
        onnx_classifier(broken, device="cpu")


def test_a_graph_optimised_once_opens_again_with_the_same_outputs(
    model_path: Path, tmp_path: Path
) -> None:
    """The optimised copy (faster start-up) gives exactly what the export gives; a damaged
    copy, or one older than its export, is made again instead of being used."""
    import os

    copy = tmp_path / "model.cpu-machine.opt.onnx"
    batch = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    plain = OnnxBackend(model_path, device="cpu").logits(batch)
    first = OnnxBackend(model_path, device="cpu", optimized_copy=copy)
    assert copy.is_file() and first.info.class_names
    again = OnnxBackend(model_path, device="cpu", optimized_copy=copy)
    np.testing.assert_array_equal(again.logits(batch), plain)
    assert again.info == first.info  # the copy keeps the model's metadata
    copy.write_bytes(b"damaged")
    np.testing.assert_array_equal(
        OnnxBackend(model_path, device="cpu", optimized_copy=copy).logits(batch), plain
    )
    assert copy.stat().st_size > 1000  # made again
    os.utime(copy, ns=(0, 0))  # older than the export it came from
    OnnxBackend(model_path, device="cpu", optimized_copy=copy)
    assert copy.stat().st_mtime_ns >= model_path.stat().st_mtime_ns
