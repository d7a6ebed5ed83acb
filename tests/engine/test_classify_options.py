"""Bad options stop ``reslens classify`` before any model loads: exit 2, one line about them.

No weights are on this machine in tests (an empty TORCH_HOME and ResLens cache, see
conftest), and the default model is the pretrained ResNet-50: were a model loaded first, the
message would be about missing weights instead of the option.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from engine.cli import main
from engine.cli.validate import image_size, positive_int, probability


def _classify(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(["classify", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--out", "results.txt"], "--out: unknown results format ('.txt')"),
        (["--batch-size", "0"], "--batch-size: must be 1 or more, got 0"),
        (["--top-k", "0"], "--top-k: must be 1 or more, got 0"),
        (["--top-k", "three"], "--top-k: expected a whole number"),
        (["--min-confidence", "60", "--sort-into", "SORTED"], "did you mean 0.6?"),
        (["--min-confidence", "-0.1", "--sort-into", "SORTED"], "--min-confidence: must lie between 0 and 1"),
        (["--min-confidence", "0.5"], "--min-confidence needs --sort-into"),
        (["--sort-into", "INSIDE"], "--sort-into: "),
        (["--device", "gpu"], "--device: unknown device 'gpu'"),
        (["--resume"], "--resume needs --out"),
        (["--ray-address", "ray://head:10001"], "--ray-address needs --engine ray"),
    ],
)  # fmt: skip
def test_a_bad_option_exits_2_with_one_line_naming_it(
    image_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    expected: str,
) -> None:
    swap = {"SORTED": str(tmp_path / "sorted"), "INSIDE": str(image_folder / "sorted")}
    options = [swap.get(o, o) for o in options]
    code, err = _classify([str(image_folder), *options], capsys)
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert "weights" not in err.lower() and "Traceback" not in err
    assert not (image_folder / "sorted").exists()


def test_an_unfinished_partial_file_needs_resume(
    image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.csv"
    (tmp_path / "r.csv.partial").write_text("path\n", encoding="utf-8")
    code, err = _classify([str(image_folder), "--out", str(out)], capsys)
    assert code == 2 and "add --resume to continue it" in err


def test_paths_that_do_not_exist(
    image_folder: Path, tiny_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = tmp_path / "gone.jpg"
    code, err = _classify([str(gone), str(tmp_path / "nowhere")], capsys)
    assert code == 2
    assert err.strip() == f"error: nothing to classify: {gone}, {tmp_path / 'nowhere'} not found"
    out = tmp_path / "r.jsonl"
    argv = [str(image_folder / "img0.jpg"), str(gone), "--model", str(tiny_model_file)]
    code, err = _classify([*argv, "--backend", "torch", "--out", str(out)], capsys)
    assert code == 1
    rows = out.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 and f'"path": "{gone}", "error": "not found"' in rows[0]


def test_top_k_above_the_class_count_is_capped_with_a_note(
    image_folder: Path, tiny_model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(image_folder / "img1.jpg"), "--model", str(tiny_model_file), "--backend", "torch"]
    code = main(["classify", *argv, "--top-k", "10"])
    captured = capsys.readouterr()
    assert code == 0
    assert "note: --top-k 10 is more than the model's 3 classes; showing 3" in captured.err
    assert captured.out.count("%)") == 3


def _cluster_installed() -> bool:
    try:
        return all(importlib.util.find_spec(m) for m in ("ray", "engine.scale.ray_classify"))
    except ImportError:
        return False


@pytest.mark.skipif(_cluster_installed(), reason="the Ray engine is installed")
def test_the_ray_engine_without_ray_says_what_to_install(
    image_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _classify([str(image_folder), "--engine", "ray"], capsys)
    assert code == 2 and "pip install 'ray[data]'" in err


def test_validators_for_train_and_classify() -> None:
    assert positive_int("3") == 3 and probability("0.25") == 0.25 and image_size("64") == 64
    for check, text, message in [
        (positive_int, "0", "must be 1 or more"),
        (probability, "75", "did you mean 0.75?"),
        (probability, "250", "must lie between 0 and 1, got 250"),
        (image_size, "16", "too small for a ResNet; use 32 or more"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=message.replace("?", r"\?")):
            check(text)
