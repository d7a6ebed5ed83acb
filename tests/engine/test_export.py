"""ONNX export: the .onnx file alone classifies like the torch model, and bad exports are refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.errors import ExportError
from engine.inference.loader import load_classifier
from engine.models.model_file import ModelInfo, save_model_file
from engine.onnx.export import CHECK_IMAGES, export_onnx
from engine.onnx.parity import Tolerance
from engine.onnx.pipeline import export_model
from engine.probabilities import softmax
from engine.runtime.backends.onnx_backend import onnx_classifier
from engine.runtime.build import load_model_classifier
from engine.runtime.classifier import Classifier
from tests.conftest import photo


def _photos(count: int = 12) -> list[Image.Image]:
    return [photo(60 + 9 * i, 50 + 13 * (i % 4), seed=100 + i) for i in range(count)]


@pytest.fixture(scope="module")
def torch_model(tiny_model_file: Path) -> Classifier:
    return load_model_classifier(tiny_model_file, device="cpu")


@pytest.fixture(scope="module")
def exported(torch_model: Classifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "tiny.onnx"
    export_onnx(torch_model, path)
    return path


def test_onnx_runtime_matches_torch_within_1e_4(torch_model: Classifier, exported: Path) -> None:
    onnx_model = onnx_classifier(exported, device="cpu")
    batch = torch_model.preprocess.to_batch(_photos())
    want = softmax(torch_model.backend.logits(batch))
    got = softmax(onnx_model.backend.logits(batch))
    assert np.abs(want - got).max() < 1e-4
    assert (want.argmax(1) == got.argmax(1)).all()


@pytest.mark.parametrize("size", [1, 3, 17])
def test_batch_axis_is_dynamic(exported: Path, size: int) -> None:
    onnx_model = onnx_classifier(exported, device="cpu")
    batch = onnx_model.preprocess.to_batch(_photos(size))
    assert onnx_model.backend.logits(batch).shape == (size, 3)


def test_onnx_file_alone_carries_names_and_preprocessing(
    torch_model: Classifier, exported: Path
) -> None:
    onnx_model = load_classifier(exported, device="cpu")
    assert onnx_model.backend.name == "onnxruntime"
    assert onnx_model.class_names == ("cat", "=cmd|' /C calc'!A0", "dog")
    assert onnx_model.preprocess == torch_model.preprocess
    assert onnx_model.temperature == torch_model.temperature
    assert onnx_model.source.arch == "resnet18"
    images = _photos(6)
    want = [p.labels for p in torch_model.predict(images, top_k=3)]
    assert [p.labels for p in onnx_model.predict(images, top_k=3)] == want


def test_export_records_its_parity_figures(exported: Path) -> None:
    info = onnx_classifier(exported, device="cpu").backend.info
    assert info.parity is not None
    assert info.parity["images"] == CHECK_IMAGES
    assert info.parity["image_source"] == "generated images"
    assert info.parity["max_prob_diff"] < 1e-4
    assert "opset-20" in info.exporter


def test_disagreement_beyond_tolerance_is_refused_with_figures(
    torch_model: Classifier, tmp_path: Path
) -> None:
    out = tmp_path / "refused.onnx"
    impossible = Tolerance(max_prob_diff=None, min_top1_agreement=1.01)
    with pytest.raises(ExportError, match=r"top-1 agreement is \d+\.\d%.*largest probability"):
        export_onnx(torch_model, out, tolerance=impossible)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_validation_split_checks_the_export(tmp_path: Path) -> None:
    import torch

    from engine.imaging.preprocess import PreprocessSpec
    from engine.models.registry import build_model

    data = tmp_path / "data"
    (data / "cats").mkdir(parents=True)
    for i in range(3):
        photo(90, 70, seed=i).save(data / "cats" / f"{i}.jpg")
    # As engine.training.outputs records it: paths relative to the dataset root.
    files = [
        {"path": "cats/0.jpg", "label": "cats", "split": "val", "sha256": ""},
        {"path": "cats/1.jpg", "label": "cats", "split": "train", "sha256": ""},
        {"path": "cats/2.jpg", "label": "cats", "split": "val", "sha256": ""},
        {"path": "gone/3.jpg", "label": "cats", "split": "val", "sha256": ""},
    ]
    extra = {"dataset": {"root": str(data)}, "split": {"source": "random", "files": files}}
    torch.manual_seed(1)
    info = ModelInfo("resnet18", ("cats", "dogs"), PreprocessSpec(resize=64, crop=64), extra=extra)
    model_file = tmp_path / "model.reslens"
    save_model_file(model_file, build_model("resnet18", num_classes=2).state_dict(), info)
    result, _ = export_model(model_file, tmp_path / "model.onnx")
    assert result is not None
    assert result.parity.images == 2
    assert result.parity.image_source == "images of the model's validation split"


def test_cli_exports_without_touching_the_model_file(
    tiny_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = hashlib.sha256(tiny_model_file.read_bytes()).hexdigest()
    out = tmp_path / "cli.onnx"
    assert main(["export", str(tiny_model_file), "--format", "onnx", "--out", str(out)]) == 0
    parity = onnx_classifier(out, device="cpu").backend.info.parity
    assert parity is not None and parity["images"] == CHECK_IMAGES
    # The CLI reports the figures the file records, whatever they are for this model.
    assert f"top-1 agreement {parity['top1_agreement']:.1%}" in capsys.readouterr().err
    assert hashlib.sha256(tiny_model_file.read_bytes()).hexdigest() == before
    image = tmp_path / "x.jpg"
    photo(80, 60).save(image)
    assert main(["classify", str(image), "--model", str(out), "--top-k", "1"]) == 0
    assert str(image) in capsys.readouterr().out


def test_cli_refuses_to_overwrite_the_input(exported: Path, capsys: pytest.CaptureFixture) -> None:
    before = exported.read_bytes()
    assert main(["export", str(exported), "--quantize", "int8", "--out", str(exported)]) == 2
    assert "choose another output file" in capsys.readouterr().err
    assert exported.read_bytes() == before


def test_onnx_backend_is_cached_and_reused(
    tiny_model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESLENS_CACHE_DIR", str(tmp_path))
    first = load_classifier(tiny_model_file, device="cpu", backend="onnx")
    files = sorted((tmp_path / "onnx").glob("resnet18-*.onnx"))
    # the verified export, and its graph optimised for this machine (for a faster start)
    optimised = [f for f in files if f.name.endswith(".opt.onnx")]
    cached = [f for f in files if f not in optimised]
    assert first.backend.name == "onnxruntime" and len(cached) == len(optimised) == 1
    stamps = [f.stat().st_mtime_ns for f in files]
    second = load_classifier(tiny_model_file, device="cpu", backend="onnx")
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert second.class_names == first.class_names


def test_a_failed_parity_check_is_remembered_and_auto_falls_back(
    tiny_model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.onnx.cache import cache_key

    monkeypatch.setenv("RESLENS_CACHE_DIR", str(tmp_path))
    spec = load_model_classifier(tiny_model_file, device="cpu").preprocess
    key = cache_key(tiny_model_file, "resnet18", spec)
    note = tmp_path / "onnx" / f"resnet18-{key[:32]}.failed.txt"
    note.parent.mkdir()
    note.write_text("Export refused: probabilities differ by up to 3.00e-01 (tolerance 1e-03).")
    with pytest.raises(ExportError, match=r"3\.00e-01"):
        load_classifier(tiny_model_file, device="cpu", backend="onnx")
    assert load_classifier(tiny_model_file, device="cpu", backend="auto").backend.name == "torch"
    assert not list(note.parent.glob("*.onnx"))


def test_cached_pretrained_model_runs_later_without_torch(
    torch_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default CPU path of a folder run: the first run exports ImageNet weights once; later
    runs open the cached export and classify without importing torch (5 s saved per start)."""
    import subprocess
    import sys

    import torch

    from engine.models.registry import build_model
    from engine.models.weights import hub_cache_dir, weights_filename

    hub_cache_dir().mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(build_model("resnet18").state_dict(), hub_cache_dir() / weights_filename("resnet18"))
    monkeypatch.setenv("RESLENS_CACHE_DIR", str(tmp_path))
    first = load_classifier("resnet18", device="cpu", backend="auto", allow_download=False)
    assert first.backend.name == "onnxruntime" and len(first.class_names) == 1000
    image = tmp_path / "x.jpg"
    photo(300, 200).save(image)
    code = (
        "import sys; from engine.cli import main;"
        f"rc = main(['classify', {str(image)!r}, '--model', 'resnet18', '--backend', 'auto']);"
        "print('TORCH', 'torch' in sys.modules); sys.exit(rc)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert done.returncode == 0, done.stderr
    assert "TORCH False" in done.stdout
    assert first.predict([Image.open(image).convert("RGB")])[0].label in done.stdout
