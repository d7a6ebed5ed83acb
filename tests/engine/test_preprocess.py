from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2 as T

from engine.imaging.preprocess import PreprocessSpec
from tests.conftest import photo


def test_crop_box_is_centred_square_of_shorter_side() -> None:
    spec = PreprocessSpec(resize=256, crop=224)
    left, top, right, bottom = spec.crop_box(400, 200)
    assert right - left == pytest.approx(200 * 224 / 256)
    assert bottom - top == pytest.approx(right - left)
    assert (left + right) / 2 == pytest.approx(200)
    assert (top + bottom) / 2 == pytest.approx(100)


def test_to_array_matches_torchvision_eval_transform() -> None:
    spec = PreprocessSpec(resize=232, crop=224)
    image = photo(640, 480, seed=3)
    reference = T.Compose(
        [
            T.Resize(232, antialias=True),
            T.CenterCrop(224),
            T.PILToTensor(),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize(list(spec.mean), list(spec.std)),
        ]
    )(image).numpy()
    ours = spec.to_array(image)
    assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
    # Same pixels up to interpolation rounding: the mean error is a small fraction of one grey level.
    assert np.abs(ours - reference).mean() < 0.03


def test_spec_round_trips_through_dict_and_describes_itself() -> None:
    spec = PreprocessSpec.for_crop(64)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    assert "centre crop 64x64" in spec.describe()


def test_invalid_spec_is_rejected() -> None:
    with pytest.raises(ValueError):
        PreprocessSpec(resize=100, crop=224)
