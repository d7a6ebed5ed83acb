"""``reslens info`` and the model card: stage tables, parameter counts, FLOPs, receptive field,
and one card that survives a .reslens file and an .onnx export alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.cli import main
from engine.imaging.preprocess import PreprocessSpec
from engine.models.anatomy import anatomy
from engine.models.model_file import ModelInfo, read_model_info, save_model_file
from engine.models.registry import build_model
from engine.runtime.backends.onnx_backend import OnnxModelInfo


def _stage_rows(text: str) -> list[tuple[str, str, int, int]]:
    rows = re.findall(r"^(layer\d)\s+(\w+)\s+(\d+)\s+\d+\s+(\d+)\s", text, re.MULTILINE)
    return [(name, block, int(n), int(out)) for name, block, n, out in rows]


@pytest.mark.parametrize(
    ("arch", "block", "counts", "channels", "params_m", "gmacs"),
    [
        ("resnet18", "BasicBlock", [2, 2, 2, 2], [64, 128, 256, 512], "11.69", "1.81"),
        ("resnet50", "Bottleneck", [3, 4, 6, 3], [256, 512, 1024, 2048], "25.56", "4.09"),
    ],
)
def test_info_prints_the_stage_table_and_torchvisions_counts(
    arch: str,
    block: str,
    counts: list[int],
    channels: list[int],
    params_m: str,
    gmacs: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["info", arch]) == 0
    text = capsys.readouterr().out
    rows = _stage_rows(text)
    assert [r[1] for r in rows] == [block] * 4
    assert [r[2] for r in rows] == counts
    assert [r[3] for r in rows] == channels
    # torchvision documents 11.7 M / 25.6 M parameters and 1.81 / 4.09 GFLOPS (multiply-adds)
    assert f"parameters     {params_m} M" in text
    assert f"({gmacs} G multiply-adds) per image at 224x224 px" in text
    assert "tench" in text  # ImageNet's classes, from torchvision's offline metadata


def test_receptive_field_of_the_cam_layer_matches_the_published_figures() -> None:
    assert anatomy(build_model("resnet18"), "resnet18", 224).receptive_field == 435
    facts = anatomy(build_model("resnet50"), "resnet50", 224)
    assert (facts.receptive_field, facts.cam_stride, facts.cam_size) == (427, 32, 7)


def test_info_names_an_unknown_architecture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "resnet19"]) == 2
    assert "Unknown architecture" in capsys.readouterr().err


def test_one_card_in_model_files_and_onnx_metadata(tmp_path: Path) -> None:
    card = dict(
        arch="resnet18",
        class_names=("a", "b"),
        preprocess=PreprocessSpec.for_crop(32),
        temperature=1.5,
        source="distilled from t.reslens (resnet50)",
        teacher={"file": "t.reslens", "sha256": "ab" * 32, "temperature": 4.0, "alpha": 0.5},
    )
    path = tmp_path / "m.reslens"
    model = build_model("resnet18", num_classes=2)
    save_model_file(path, model.state_dict(), ModelInfo(**card))  # type: ignore[arg-type]
    from_file = read_model_info(path).card()
    onnx_meta = OnnxModelInfo(**card, cam_weight="w").to_metadata()  # type: ignore[arg-type]
    from_onnx = OnnxModelInfo.from_metadata(onnx_meta).card()
    assert from_file == from_onnx
    assert from_file.teacher is not None and from_file.teacher["alpha"] == 0.5
