from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import Cancelled
from engine.inference.batch import classify_files
from engine.inference.chunks import ResultChunk, classify_in_chunks
from engine.inference.loader import load_classifier
from engine.jobs import CancelToken
from tests.conftest import photo


@pytest.fixture(scope="module")
def classifier(tiny_model_file: Path):  # type: ignore[no-untyped-def]
    return load_classifier(tiny_model_file, device="cpu")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("stream")
    paths = []
    for i in range(10):
        path = folder / f"p{i:02d}.png"
        photo(90, 70, seed=i).save(path)
        paths.append(path)
    (folder / "p10.png").write_bytes(b"not a png")
    return [*paths, folder / "p10.png"]


def test_chunks_cover_every_path_in_order(classifier, photos: list[Path]) -> None:  # type: ignore[no-untyped-def]
    chunks: list[ResultChunk] = []
    count = classify_in_chunks(
        classifier, photos, chunks.append, min_interval_s=0.0, batch_size=4, top_k=2
    )
    assert count == len(photos)
    assert len(chunks) >= 3  # one per batch when there is no minimum interval
    flat = [r for c in chunks for r in c.results]
    assert [r.path for r in flat] == photos
    assert [c.start for c in chunks] == [
        sum(len(c.results) for c in chunks[:i]) for i in range(len(chunks))
    ]
    assert chunks[-1].progress.done == len(photos)
    assert not flat[-1].ok and flat[-1].error
    expected = list(classify_files(classifier, photos, batch_size=4, top_k=2))
    assert [r.prediction for r in flat] == [r.prediction for r in expected]


def test_a_long_interval_gives_one_chunk(classifier, photos: list[Path]) -> None:  # type: ignore[no-untyped-def]
    chunks: list[ResultChunk] = []
    classify_in_chunks(classifier, photos, chunks.append, min_interval_s=3600, batch_size=4)
    assert len(chunks) == 1 and len(chunks[0].results) == len(photos)


def test_cancel_delivers_finished_batches_then_raises(classifier, photos: list[Path]) -> None:  # type: ignore[no-untyped-def]
    token = CancelToken()
    chunks: list[ResultChunk] = []

    def on_chunk(chunk: ResultChunk) -> None:
        chunks.append(chunk)
        token.cancel()

    with pytest.raises(Cancelled):
        classify_in_chunks(
            classifier, photos, on_chunk, min_interval_s=0.0, batch_size=2, cancel=token
        )
    assert len(chunks) == 1
    assert [r.path for r in chunks[0].results] == photos[: len(chunks[0].results)]
