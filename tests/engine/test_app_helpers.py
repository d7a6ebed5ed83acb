"""Engine helpers the app needs: free model names, honest export counts, whole-photo Grad-CAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.explain.whole_photo import explain_whole_photo
from engine.inference.loader import load_classifier
from engine.inference.session import export_summary, waiting_question
from engine.training.session import ScanDone, free_model_path, scan_task
from engine.training.state import state_path
from tests.engine.labeled_folders import make_labeled_folder


def test_free_model_path_never_names_an_existing_file(tmp_path: Path) -> None:
    wanted = tmp_path / "labeled.reslens"
    assert free_model_path(wanted) == wanted
    wanted.write_bytes(b"model")
    assert free_model_path(wanted) == tmp_path / "labeled-2.reslens"
    (tmp_path / "labeled-2.reslens").write_bytes(b"model")
    state_path(tmp_path / "labeled-3.reslens").write_text("{}")  # an interrupted run's
    assert free_model_path(wanted) == tmp_path / "labeled-4.reslens"
    assert free_model_path(tmp_path / "labeled-2.reslens") == tmp_path / "labeled-4.reslens"
    assert wanted.read_bytes() == b"model"


def test_export_summary_says_how_many_images_are_not_in_the_file() -> None:
    assert export_summary(7, 0, "r.csv") == "Saved 7 rows to r.csv."
    text = export_summary(93, 228, "r.csv")
    assert text.startswith("Saved 93 rows") and "228 images are not classified yet" in text
    assert "1 image is not" in export_summary(3, 1, "r.csv")
    assert "228 images are not classified yet" in waiting_question("exporting", 228)


def test_scan_task_returns_thumbnails_of_each_class(tmp_path: Path) -> None:
    data = make_labeled_folder(tmp_path / "data", per_class=5, size=40)

    class Ctx:
        from engine.jobs import CancelToken

        cancel = CancelToken()

        def report(self, payload: object) -> None:
            pass

    done = scan_task(data)(Ctx())
    assert isinstance(done, ScanDone)
    assert [name for name, _ in done.examples] == ["checks", "horizontal", "vertical"]
    assert all(len(thumbs) == 4 and thumbs[0].shape == (40, 40, 3) for _, thumbs in done.examples)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_whole_photo_map_covers_a_wide_photo_that_the_centre_crop_misses(
    tiny_model_file: Path, backend: str
) -> None:
    classifier = load_classifier(tiny_model_file, device="cpu", backend=backend)
    rng = np.random.default_rng(0)
    wide = Image.fromarray(rng.integers(0, 255, (64, 256, 3), dtype=np.uint8))
    centre = classifier.explain(wide)
    whole = explain_whole_photo(classifier, wide, centre.class_index)
    assert whole.heatmap.shape == (64, 256) and whole.class_index == centre.class_index
    left, right = slice(0, 80), slice(176, 256)
    assert centre.heatmap[:, left].max() == 0 and centre.heatmap[:, right].max() == 0
    assert whole.heatmap[:, left].max() > 0 and whole.heatmap[:, right].max() > 0
    assert whole.heatmap.min() >= 0 and whole.heatmap.max() == pytest.approx(1.0, abs=0.01)
    assert whole.passes == (1 if backend == "torch" else 7)  # 64 px squares, 32 px apart


def test_describe_failure_gives_the_reason_without_a_traceback() -> None:
    from engine.errors import ModelLoadError
    from engine.inference.session import describe_failure

    assert describe_failure(ModelLoadError("x.pth does not fit resnet50")) == (
        "x.pth does not fit resnet50"
    )
    missing = FileNotFoundError(2, "No such file or directory", "/nowhere/r.csv")
    assert describe_failure(missing) == "No such file or directory: /nowhere/r.csv"
    assert "RuntimeError: boom" in describe_failure(RuntimeError("boom"))
