"""``--select-by``: which epoch is kept when validation loss and accuracy disagree."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from engine.models.model_file import load_model_file
from engine.training.records import TrainConfig
from engine.training.run import train
from tests.engine.labeled_folders import CLASSES, make_labeled_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def noisy_validation_set(root: Path) -> Path:
    """train/ as usual; val/ with a third of each class's images really of the next class.

    As the network grows sure of itself, it gains accuracy on the honest images while the
    mislabelled ones make its validation loss climb: loss and accuracy disagree."""
    make_labeled_folder(root / "train", per_class=16, size=36, seed=1)
    make_labeled_folder(root / "val", per_class=6, size=36, seed=2)
    other = make_labeled_folder(root.parent / "other", per_class=3, size=36, seed=3)
    names = list(CLASSES)
    for i, name in enumerate(names):
        for image in sorted((other / names[(i + 1) % len(names)]).glob("*.png")):
            shutil.copy(image, root / "val" / name / f"mislabelled_{image.name}")
    return root


def test_select_by_changes_which_epoch_is_kept(tmp_path: Path) -> None:
    data = noisy_validation_set(tmp_path / "data")
    config = TrainConfig(
        epochs=3, image_size=32, batch_size=16, pretrained=False, patience=0, lr=3e-4
    )
    by_accuracy = train(data, tmp_path / "a.reslens", config, write_report=False)
    by_loss = train(
        data, tmp_path / "l.reslens", dataclasses.replace(config, select_by="loss"),
        write_report=False,
    )  # fmt: skip
    history = by_accuracy.history
    assert [r.val_loss for r in history] == [r.val_loss for r in by_loss.history]  # same run
    lowest_loss = min(history, key=lambda r: r.val_loss).epoch
    best_balanced = max(history, key=lambda r: (r.val_balanced_accuracy, -r.val_loss)).epoch
    assert lowest_loss != best_balanced  # the run's loss and accuracy disagree
    assert by_loss.best_epoch == lowest_loss
    assert by_accuracy.best_epoch == best_balanced
    assert by_accuracy.metrics.balanced_accuracy > by_loss.metrics.balanced_accuracy
    state_a, info_a = load_model_file(by_accuracy.model_path)
    state_l, info_l = load_model_file(by_loss.model_path)
    assert info_a.extra["training"]["select_by"] == "balanced-accuracy"
    assert info_l.extra["training"]["select_by"] == "loss"
    assert not (state_a["fc.weight"] == state_l["fc.weight"]).all()  # different weights kept
    assert "highest validation balanced accuracy" in by_accuracy.summary()
