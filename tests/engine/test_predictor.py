from __future__ import annotations

import numpy as np
import pytest

from engine.inference.loader import load_classifier
from engine.probabilities import softmax
from engine.runtime.classifier import top_k
from tests.conftest import photo


def test_softmax_is_stable_and_temperature_softens() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    probs = softmax(logits)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert probs[0, 0] == pytest.approx(1.0)
    assert softmax(logits[1:], temperature=3.0).max() < probs[1].max()


def test_top_k_orders_by_probability_and_caps_k() -> None:
    probs = np.array([[0.1, 0.6, 0.3]])
    (pred,) = top_k(probs, ("a", "b", "c"), k=10)
    assert pred.labels == ("b", "c", "a")
    assert pred.indices == (1, 2, 0)
    assert pred.prob == pytest.approx(0.6)


def test_batched_and_single_predictions_agree() -> None:
    classifier = load_classifier("resnet18", weights="none", device="cpu")
    images = [photo(300, 200, seed=s) for s in range(3)]
    together = classifier.predict(images, top_k=3)
    alone = [classifier.predict([im], top_k=3)[0] for im in images]
    for a, b in zip(together, alone, strict=True):
        assert a.indices == b.indices
        assert np.allclose(a.probs, b.probs, atol=1e-4)


def test_explain_returns_map_in_original_geometry(tiny_model_file) -> None:  # type: ignore[no-untyped-def]
    classifier = load_classifier(tiny_model_file, device="cpu")
    image = photo(240, 120, seed=4)
    top = classifier.predict([image])[0]
    explanation = classifier.explain(image)
    assert explanation.heatmap.shape == (120, 240)
    assert explanation.class_index == top.index
    assert explanation.prediction.indices == top.indices
    assert explanation.prob == pytest.approx(top.prob, abs=1e-4)
    other = classifier.explain(image, class_index=(top.index + 1) % 3)
    assert other.label != explanation.label
    with pytest.raises(ValueError):
        classifier.explain(image, class_index=3)


def test_explain_on_the_batch_decode_matches_folder_results(tiny_model_file, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.imaging.decode import load_image
    from engine.inference.batch import classify_files

    classifier = load_classifier(tiny_model_file, device="cpu")
    path = tmp_path / "big.jpg"
    photo(1600, 1200, seed=5).save(path, quality=90)
    (result,) = classify_files(classifier, [path], top_k=3)
    full = load_image(path)
    reduced = load_image(path, min_side=classifier.preprocess.resize)
    assert reduced.size[0] < full.size[0]  # draft decoding really happened
    explanation = classifier.explain(full, top_k_=3, model_image=reduced)
    assert result.prediction is not None
    assert explanation.prediction.indices == result.prediction.indices
    assert np.allclose(explanation.prediction.probs, result.prediction.probs, atol=1e-5)
    assert explanation.heatmap.shape == (1200, 1600)


def test_explain_probabilities_use_the_temperature_like_predict(tiny_model_file) -> None:  # type: ignore[no-untyped-def]
    from engine.runtime.classifier import Classifier

    base = load_classifier(tiny_model_file, device="cpu")
    hot = Classifier(
        base.backend,
        class_names=base.class_names,
        preprocess=base.preprocess,
        source=base.source,
        temperature=4.0,
    )
    image = photo(120, 90, seed=6)
    predicted = hot.predict([image], top_k=3)[0]
    explained = hot.explain(image, top_k_=3).prediction
    assert explained.indices == predicted.indices
    assert np.allclose(explained.probs, predicted.probs, atol=1e-6)
    assert not np.allclose(predicted.probs, base.predict([image], top_k=3)[0].probs, atol=1e-3)
