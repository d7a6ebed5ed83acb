"""Structured pruning: whole channels go (residual-tied ones together), the pruned model loads
from its own file, exports to ONNX with the parity check passing, and costs less."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from engine.cli import main
from engine.models.anatomy import anatomy
from engine.models.info import model_facts
from engine.models.model_file import read_model_info
from engine.models.registry import build_model
from engine.onnx.export import export_verified
from engine.runtime.backends.onnx_backend import OnnxBackend
from engine.runtime.build import load_model_classifier
from engine.training.prune import PruneConfig, conv_channels, prune
from engine.training.records import TrainConfig
from engine.training.run import train
from tests.engine.labeled_folders import make_labeled_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, a ResNet-18 trained on it for one epoch at 32 px)."""
    root = tmp_path_factory.mktemp("prune")
    data = make_labeled_folder(root / "data", per_class=10, size=32)
    model = root / "model.reslens"
    config = TrainConfig(
        arch="resnet18", epochs=1, image_size=32, batch_size=8, pretrained=False, device="cpu"
    )
    train(data, model, config, write_report=False)
    return data, model


@pytest.mark.parametrize("ratio", [0.5, 0.25])
def test_pruned_resnet_loses_the_requested_share_of_channels_and_loads_alone(
    trained: tuple[Path, Path], tmp_path: Path, ratio: float
) -> None:
    _, original = trained
    out = prune(original, None, tmp_path / "built" / "pruned.reslens", PruneConfig(ratio, 0))
    assert out is None
    alone = tmp_path / "alone" / "pruned.reslens"  # away from the original: the file suffices
    alone.parent.mkdir()
    shutil.copy(tmp_path / "built" / "pruned.reslens", alone)
    classifier = load_model_classifier(alone, device="cpu")
    network: nn.Module = classifier.backend.model  # type: ignore[attr-defined]
    stock = build_model("resnet18", num_classes=3)
    removed = 1 - conv_channels(network) / conv_channels(stock)
    assert removed == pytest.approx(ratio, abs=0.01)
    # channels tied by skip connections were pruned together: the stem and every layer1
    # block's output share one width, as do each stage's projection and block outputs
    assert {network.layer1[i].conv2.out_channels for i in range(2)} == {network.conv1.out_channels}
    for stage in (network.layer2, network.layer3, network.layer4):
        assert stage[0].downsample[0].out_channels == stage[1].conv2.out_channels
    pruned, full = anatomy(network, "resnet18", 32), anatomy(stock, "resnet18", 32)
    assert pruned.params < (1 - ratio) * full.params
    assert pruned.gflops < (1 - ratio) * full.gflops
    assert read_model_info(alone).structure is not None


def test_pruned_model_exports_with_parity_and_its_onnx_says_it_was_pruned(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    _, original = trained
    path = tmp_path / "pruned.reslens"
    prune(original, None, path, PruneConfig(0.5, 0))
    classifier = load_model_classifier(path, device="cpu")
    data, report = export_verified(classifier)  # raises ExportError beyond fp32 tolerance
    assert report.top1_agreement == 1.0
    onnx_file = tmp_path / "pruned.onnx"
    onnx_file.write_bytes(data)
    backend = OnnxBackend(onnx_file, device="cpu")
    assert backend.info.structure == read_model_info(path).structure
    batch = np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(backend.logits(batch), classifier.backend.logits(batch), atol=1e-4)
    text = "\n".join(model_facts(onnx_file).lines())
    assert "pruned (50% of channels removed)" in text


def test_cli_prune_fine_tunes_on_the_models_own_split(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, original = trained
    out = tmp_path / "pruned.reslens"
    code = main(["prune", str(original), str(data), "--ratio", "0.5", "--epochs", "1",
                 "--out", str(out), "--device", "cpu", "--table"])  # fmt: skip
    assert code == 0
    before, after = read_model_info(original), read_model_info(out)
    assert after.extra["split"]["files"] == before.extra["split"]["files"]
    assert after.extra["pruning"]["from"] == original.name
    assert len(after.extra["history"]) == 1
    rows = {r["variant"]: r for r in after.extra["deployment"]}
    assert rows["pruned"]["params_m"] < 0.3 * rows["original"]["params_m"]
    assert rows["pruned"]["gflops"] < 0.3 * rows["original"]["gflops"]
    assert rows["original"]["agreement"] == 1.0
    assert "<h2>Deployment</h2>" in out.with_suffix(".report.html").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "50% of channels removed from model.reslens" in text
    assert "deployment" in text and "pruned" in text.split("deployment")[-1]


def test_cli_prune_refuses_a_folder_that_is_not_the_models_data(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, original = trained
    other = make_labeled_folder(tmp_path / "other", per_class=6, size=32, seed=5)
    code = main(["prune", str(original), str(other), "--out", str(tmp_path / "p.reslens")])
    assert code == 2
    assert "is not the data model.reslens was trained on" in capsys.readouterr().err
    assert not (tmp_path / "p.reslens").exists()
