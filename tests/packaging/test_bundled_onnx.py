"""A packaged app's verified ONNX copies (assets/onnx): used before the user's cache, so the
first start classifies without exporting, and never written to or deleted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.inference.loader import load_classifier
from engine.onnx import cache


def exports(folder: Path) -> list[Path]:
    """The verified exports in a cache folder, not the copies optimised for this machine."""
    return [p for p in folder.glob("*.onnx") if not p.name.endswith(".opt.onnx")]


def test_a_bundled_copy_is_used_first_and_left_alone_when_damaged(
    tiny_model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = tmp_path / "bundle" / "assets" / "onnx"
    bundled.mkdir(parents=True)
    user_cache = tmp_path / "cache"
    monkeypatch.setattr(cache, "bundled_onnx_dir", lambda: bundled)
    monkeypatch.setenv("RESLENS_CACHE_DIR", str(user_cache))
    load_classifier(tiny_model_file, device="cpu", backend="onnx")  # as build.py makes it
    [made] = exports(user_cache / "onnx")
    shutil.move(made, bundled / made.name)

    first_start = load_classifier(tiny_model_file, device="cpu", backend="onnx")

    assert first_start.backend.name == "onnxruntime"
    assert first_start.backend.label == str(bundled / made.name)
    assert not exports(user_cache / "onnx")  # nothing exported (only the graph optimised here)

    shutil.copyfile(bundled / made.name, made)  # a good copy in the cache, a damaged bundle
    (bundled / made.name).write_bytes(b"not an onnx model")

    damaged = load_classifier(tiny_model_file, device="cpu", backend="onnx")

    assert damaged.backend.label == str(made)
    assert (bundled / made.name).read_bytes() == b"not an onnx model"
