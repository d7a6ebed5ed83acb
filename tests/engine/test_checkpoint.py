from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.errors import ModelLoadError
from engine.imaging.preprocess import PreprocessSpec
from engine.inference.loader import load_classifier
from engine.models.model_file import ModelInfo, load_model_file, read_model_info, save_model_file
from engine.models.registry import build_model


def test_model_file_round_trips_weights_and_metadata(tmp_path: Path) -> None:
    model = build_model("resnet18", num_classes=2)
    info = ModelInfo(
        arch="resnet18",
        class_names=("benign", "malignant"),
        preprocess=PreprocessSpec.for_crop(96),
        temperature=1.7,
        extra={"metrics": {"accuracy": 0.93}, "seed": 7},
    )
    path = tmp_path / "m.reslens"
    save_model_file(path, model.state_dict(), info)
    state, loaded = load_model_file(path)
    assert loaded.class_names == ("benign", "malignant")
    assert loaded.preprocess == info.preprocess
    assert loaded.temperature == 1.7
    assert loaded.extra["metrics"]["accuracy"] == 0.93
    assert torch.equal(state["fc.weight"], model.state_dict()["fc.weight"])
    assert [p.name for p in tmp_path.iterdir()] == ["m.reslens"]  # no temp files left


def test_model_file_loads_as_classifier_with_its_classes(tiny_model_file: Path, make_photo) -> None:  # type: ignore[no-untyped-def]
    classifier = load_classifier(tiny_model_file, device="cpu")
    assert classifier.class_names[0] == "cat"
    assert classifier.preprocess.crop == 64
    (prediction,) = classifier.predict([make_photo(100, 80)], top_k=2)
    assert len(prediction.labels) == 2
    assert set(prediction.labels) <= set(classifier.class_names)
    assert sum(prediction.probs) <= 1.0 + 1e-6


def test_foreign_safetensors_without_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.reslens"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ModelLoadError, match="not a ResLens model file"):
        read_model_info(path)


def test_garbage_file_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "junk.reslens"
    path.write_bytes(b"hello world, not a model")
    with pytest.raises(ModelLoadError, match=r"junk\.reslens"):
        load_classifier(path, device="cpu")


def test_newer_format_version_asks_for_an_update(tmp_path: Path) -> None:
    info = ModelInfo(
        arch="resnet18", class_names=("a",), preprocess=PreprocessSpec(), schema_version=99
    )
    path = tmp_path / "future.reslens"
    save_model_file(path, build_model("resnet18", num_classes=1).state_dict(), info)
    with pytest.raises(ModelLoadError, match="Update ResLens"):
        read_model_info(path)
