"""``reslens train``: a run that the classifier can use at once, and its error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.cli import main
from tests.engine.labeled_folders import make_labeled_folder

FAST = ["--image-size", "32", "--batch-size", "16"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_train_then_classify_with_the_new_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_labeled_folder(tmp_path / "data", per_class=16, size=36)
    out = tmp_path / "model.reslens"
    code = main(["train", str(data), "--out", str(out), "--epochs", "2", *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "3 classes, 48 images" in captured.err  # the health report comes first
    assert "warning: ImageNet weights for ResNet-18 are not available" in captured.err
    assert "epoch 2/2" in captured.err
    assert "balanced accuracy" in captured.out and "horizontal" in captured.out
    assert out.is_file() and out.with_suffix(".report.html").is_file()

    image = data / "vertical" / "vertical_000.png"
    assert main(["classify", str(image), "--model", str(out), "--top-k", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[1].split(" (")[0] in ("checks", "horizontal", "vertical")


def test_explicit_pretrained_without_weights_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_labeled_folder(tmp_path / "data", per_class=3, size=16)
    out = tmp_path / "m.reslens"
    assert main(["train", str(data), "--out", str(out), "--pretrained", *FAST]) == 2
    assert "resnet18-f37072fd.pth" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("loose", "lie directly in it"),
        ("one-class", "at least two"),
        ("resume", "no training state"),
    ],
)
def test_unusable_input_exits_2_with_a_specific_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    data = tmp_path / "data"
    extra: list[str] = []
    if setup == "loose":
        data.mkdir()
        Image.new("RGB", (16, 16)).save(data / "a.png")
    elif setup == "one-class":
        make_labeled_folder(data, per_class=3, size=16, classes=("checks",))
    else:
        make_labeled_folder(data, per_class=3, size=16)
        extra = ["--resume"]
    code = main(["train", str(data), "--out", str(tmp_path / "m.reslens"), *FAST, *extra])
    assert code == 2
    assert message in capsys.readouterr().err
