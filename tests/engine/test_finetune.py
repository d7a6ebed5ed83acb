"""Fine-tuning on generated images: it learns, it reloads, it is reproducible, it resumes."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import Cancelled, DatasetError, WeightsNotFoundError
from engine.imaging.decode import load_image
from engine.inference.loader import load_classifier
from engine.jobs import CancelToken
from engine.models.model_file import read_model_info
from engine.training.data import augment, epoch_order
from engine.training.recipe import resolve_start
from engine.training.records import TrainConfig, TrainProgress, TrainResult
from engine.training.run import train
from engine.training.schedule import lr_factor
from engine.training.state import state_path
from tests.engine.labeled_folders import make_labeled_folder, tree_bytes

# 32 px ResNet-18 from scratch: about a second per epoch on two cores.
CONFIG = TrainConfig(epochs=4, image_size=32, batch_size=16, pretrained=False, patience=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_labeled_folder(tmp_path_factory.mktemp("set") / "data", per_class=24, size=40)
    (root / "vertical" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return root


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    before = tree_bytes(data)
    result = train(data, tmp_path_factory.mktemp("model") / "model.reslens", CONFIG)
    assert tree_bytes(data) == before
    return result


def test_training_learns_generated_classes_despite_a_corrupt_file(trained: TrainResult) -> None:
    assert trained.stopped == "completed" and len(trained.history) == 4
    assert trained.metrics.accuracy >= 0.95
    assert trained.metrics.balanced_accuracy >= 0.95
    assert any("1 unreadable image" in note for note in trained.notes)
    assert any("from scratch" in note for note in trained.notes)
    assert trained.history[-1].train_loss < trained.history[0].train_loss
    best = max(trained.history, key=lambda r: (r.val_balanced_accuracy, -r.val_loss))
    assert trained.best_epoch == best.epoch  # by balanced accuracy, ties to the lower loss
    assert not state_path(trained.model_path).exists()  # finished: nothing to resume


def test_saved_model_reloads_and_reproduces_its_validation_metrics(trained: TrainResult) -> None:
    info = read_model_info(trained.model_path)
    extra = info.extra
    assert info.class_names == ("checks", "horizontal", "vertical")
    assert info.preprocess.crop == 32
    assert info.temperature == pytest.approx(trained.calibration.temperature)
    assert extra["training"]["seed"] == 0 and extra["training"]["config"]["epochs"] == 4
    assert len(extra["history"]) == 4
    files = extra["split"]["files"]
    assert {f["split"] for f in files} == {"train", "val"} and len(files) == 72
    assert all(len(f["sha256"]) == 64 for f in files)
    assert "corrupt.png" in json.dumps(extra["dataset"]["unreadable"])

    classifier = load_classifier(trained.model_path, device="cpu")
    root = Path(extra["dataset"]["root"])
    val = [f for f in files if f["split"] == "val"]
    predictions = classifier.predict([load_image(root / f["path"]) for f in val], top_k=1)
    accuracy = np.mean([p.label == f["label"] for p, f in zip(predictions, val, strict=True)])
    assert accuracy == pytest.approx(extra["metrics"]["val"]["accuracy"])


def test_report_shows_curves_confusion_matrix_and_metrics(trained: TrainResult) -> None:
    assert trained.report_path is not None
    html = trained.report_path.read_text(encoding="utf-8")
    assert html.count("<img") >= 2 and "data:image/png;base64," in html
    assert "balanced accuracy" in html and "horizontal" in html


def test_same_seed_same_model_and_resume_continues_exactly(
    data: Path, trained: TrainResult, tmp_path: Path
) -> None:
    out = tmp_path / "again.reslens"
    cancel = CancelToken()

    def stop_in_epoch_3(progress: TrainProgress) -> None:
        if progress.phase == "training" and progress.epoch == 3 and progress.step == 2:
            cancel.cancel()

    first = train(data, out, CONFIG, cancel=cancel, on_progress=stop_in_epoch_3, write_report=False)
    assert first.stopped == "cancelled" and len(first.history) == 2
    assert out.is_file() and state_path(out).is_file()  # best so far + resumable state
    assert read_model_info(out).extra["training"]["best_epoch"] == first.best_epoch

    resumed = train(data, out, dataclasses.replace(CONFIG, epochs=99), resume=True)
    assert resumed.stopped == "completed" and len(resumed.history) == 4  # saved settings win
    same = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "improved")
    for a, b in zip(resumed.history, trained.history, strict=True):
        assert [getattr(a, k) for k in same] == [getattr(b, k) for k in same]
    assert resumed.metrics == trained.metrics
    assert not state_path(out).exists()


def test_resume_refuses_a_changed_data_set_and_a_missing_state(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.reslens"
    with pytest.raises(DatasetError, match="no training state"):
        train(data, out, CONFIG, resume=True)
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    cancel = CancelToken()

    def stop(progress: TrainProgress) -> None:
        if progress.phase == "training" and progress.step == 1:
            cancel.cancel()

    with pytest.raises(Cancelled, match="before the first epoch"):
        train(copy, out, CONFIG, cancel=cancel, on_progress=stop)
    assert state_path(out).is_file()
    Image.new("RGB", (40, 40), "white").save(copy / "checks" / "new.png")
    with pytest.raises(DatasetError, match="changed since this training started"):
        train(copy, out, CONFIG, resume=True)


def test_pretrained_weights_are_used_when_present_and_required_when_asked(
    data: Path, torch_home: Path, tmp_path: Path
) -> None:
    import torch

    from engine.models.registry import build_model
    from engine.models.weights import weights_filename

    with pytest.raises(WeightsNotFoundError, match=weights_filename("resnet18")):
        resolve_start(dataclasses.replace(CONFIG, pretrained=True))
    assert not resolve_start(dataclasses.replace(CONFIG, pretrained=None)).pretrained

    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(1)
    imagenet_like = build_model("resnet18").state_dict()
    torch.save(imagenet_like, cache / weights_filename("resnet18"))
    config = dataclasses.replace(
        CONFIG, pretrained=True, epochs=2, head_epochs=1, test_fraction=0.2
    )
    result = train(data, tmp_path / "ft.reslens", config)
    assert [r.phase for r in result.history] == ["head", "full"]
    assert "starts from ImageNet weights (cache" in result.notes[0]
    extra = read_model_info(result.model_path).extra
    assert extra["training"]["pretrained"] is True
    assert result.test_metrics is not None and result.test_metrics.count == len(result.split.test)
    assert extra["metrics"]["test"]["count"] == result.test_metrics.count > 0
    assert result.report_path is not None and "Test set" in result.report_path.read_text()


def test_head_only_phase_freezes_the_body_and_its_batch_norm_statistics() -> None:
    from engine.models.registry import build_model
    from engine.training.recipe import set_phase

    model = build_model("resnet18", num_classes=3)
    set_phase(model, "resnet18", head_only=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    assert not model.bn1.training and not model.layer4[1].bn2.training
    set_phase(model, "resnet18", head_only=False)
    assert all(p.requires_grad for p in model.parameters()) and model.bn1.training


def test_schedule_sampler_and_grayscale_augmentation() -> None:
    factors = [lr_factor(s, 100, 10) for s in range(100)]
    assert factors[9] == pytest.approx(1.0) and factors[0] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert factors[-1] == pytest.approx(0.01, abs=0.01)

    labels = np.array([0] * 90 + [1] * 10)
    drawn = labels[epoch_order(labels, seed=0, epoch=1, balanced=True)]
    assert 35 <= np.sum(drawn == 1) <= 65  # the rare class is drawn about half the time
    assert sorted(epoch_order(labels, seed=0, epoch=1, balanced=False)) == list(range(100))

    gray = Image.fromarray(np.tile(np.arange(48, dtype=np.uint8)[None, :, None] * 5, (48, 1, 3)))
    view = augment(gray, 32, np.random.default_rng(0), color=False)
    assert view.shape == (32, 32, 3)
    assert np.array_equal(view[..., 0], view[..., 1]) and np.array_equal(view[..., 0], view[..., 2])
    again = augment(gray, 32, np.random.default_rng(0), color=False)
    assert np.array_equal(view, again)
