from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.errors import Cancelled
from engine.imaging.walk import find_images
from engine.inference.batch import classify_files
from engine.inference.loader import load_classifier
from engine.jobs import CancelToken, Progress
from tests.conftest import photo


@pytest.fixture(scope="module")
def classifier(tiny_model_file: Path):  # type: ignore[no-untyped-def]
    return load_classifier(tiny_model_file, device="cpu")


def test_broken_file_is_one_error_row_and_order_is_kept(classifier, image_folder: Path) -> None:  # type: ignore[no-untyped-def]
    images, _ = find_images([image_folder])
    progress: list[Progress] = []
    results = list(classify_files(classifier, images, batch_size=2, on_progress=progress.append))
    assert [r.path for r in results] == images
    broken = [r for r in results if not r.ok]
    assert [r.path.name for r in broken] == ["broken.jpg"]
    assert broken[0].error
    assert all(len(r.prediction.labels) == 3 for r in results if r.prediction)
    assert progress[-1].done == len(images) and progress[-1].total == len(images)
    assert progress[-1].failed == 1


def test_batch_results_match_one_by_one_predictions(classifier, image_folder: Path) -> None:  # type: ignore[no-untyped-def]
    """Batching, parallel decoding and reordering change nothing: every class's probability
    of every image equals the image classified alone (decoded the way the batch decodes)."""
    from engine.imaging.decode import load_image

    images = [p for p in find_images([image_folder])[0] if p.name != "broken.jpg"]
    streamed = list(classify_files(classifier, images, top_k=3, batch_size=3, decode_workers=2))
    assert [r.path for r in streamed] == images
    resize = classifier.preprocess.resize
    for result in streamed:
        single = classifier.predict([load_image(result.path, min_side=resize)], top_k=3)[0]
        assert result.prediction is not None
        assert result.prediction.indices == single.indices
        assert result.prediction.probs == pytest.approx(single.probs, abs=1e-5)
    # The images differ, so a mix-up of rows would show in the probabilities.
    assert len({r.prediction.probs for r in streamed if r.prediction}) == len(images)


def test_cancel_stops_the_stream(classifier, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for i in range(40):
        photo(64, 64, seed=i).save(tmp_path / f"{i:02d}.png")
    token = CancelToken()
    seen = 0
    with pytest.raises(Cancelled):
        for _ in classify_files(classifier, sorted(tmp_path.iterdir()), batch_size=4, cancel=token):
            seen += 1
            if seen == 4:
                token.cancel()
    assert seen < 40
    assert not any(t.name.startswith("reslens-decode") for t in threading.enumerate())
