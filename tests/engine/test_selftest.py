"""The Qt-free self-test behind ``ResLens --self-test``: passes on a working install, and names
what failed otherwise."""

from __future__ import annotations

import importlib.metadata as md
import platform
import re
from pathlib import Path

from engine.resources import samples_dir
from engine.selftest import describe_versions, load_selftest_model, run_selftest


def test_passes_with_a_model_file_on_the_sample_photos(tiny_model_file: Path) -> None:
    report = run_selftest(model=tiny_model_file, limit=2)

    assert report.ok, report.lines()
    assert [c.name for c in report.checks] == ["torch", "model", "classify", "gradcam", "onnx"]
    assert all(c.status == "ok" for c in report.checks), report.lines()
    summary = report.summary()
    assert summary.startswith("ResLens self-test passed")
    assert "\n" not in summary
    assert "2 sample photos" in summary


def test_bundled_samples_are_there() -> None:
    photos = sorted(p.name for p in samples_dir().glob("*.jpg"))
    assert "cat.jpg" in photos


def test_without_pretrained_weights_says_it_uses_random_weights() -> None:
    classifier, note = load_selftest_model(None, "cpu")  # the torch cache is empty in tests

    assert not classifier.source.pretrained
    assert "RANDOM" in note
    assert "resnet50-11ad3fa6.pth" in note


def test_an_empty_sample_folder_fails_naming_the_check(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    report = run_selftest(model=tiny_model_file, samples=tmp_path, onnx=False)

    assert not report.ok
    assert [c.name for c in report.failures] == ["classify"]
    assert "classify" in report.summary()
    assert "no sample images" in report.summary()
    assert {c.name: c.status for c in report.checks}["gradcam"] == "skipped"


def test_a_broken_sample_photo_is_named(tiny_model_file: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")

    report = run_selftest(model=tiny_model_file, samples=tmp_path, onnx=False)

    assert "broken.jpg" in report.summary()


def test_a_missing_model_fails_the_model_check(tmp_path: Path) -> None:
    report = run_selftest(model=tmp_path / "gone.reslens", onnx=False)

    assert [c.name for c in report.failures] == ["model"]
    assert "gone.reslens" in report.summary()


def test_versions_line_names_the_installed_versions() -> None:
    import torch

    line = describe_versions()

    assert line.startswith(f"ResLens {md.version('reslens')} (python {platform.python_version()}, ")
    release = torch.__version__.split("+")[
        0
    ]  # "2.14.1+cu130": the wheel's metadata may omit the build
    assert re.search(rf"torch {re.escape(release)}(\+\w+)?, ", line), line
    runtime = next(d for d in ("onnxruntime-gpu", "onnxruntime") if d in line)
    assert f"{runtime} {md.version(runtime)}" in line
    assert "packaged" not in line  # only the frozen app says so
