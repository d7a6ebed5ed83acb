"""Shared fixtures: no network, an isolated torch cache, tiny models and generated photos."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every weight download fails as it would offline."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network access is disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(autouse=True)
def torch_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, so tests never see weights from this machine."""
    home = tmp_path_factory.mktemp("torch_home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def reslens_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An empty ResLens cache (verified ONNX exports), never the user's."""
    cache = tmp_path_factory.mktemp("reslens_cache")
    monkeypatch.setenv("RESLENS_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Train on one torch thread (for modules that ask for it with ``usefixtures``): two
    threads run many times slower when another process holds a core, as on a shared machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth colourful RGB image (gradients + blobs), like a photo to a decoder."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy, phase = [*rng.uniform(0.5, 3, 2).tolist(), rng.uniform(0, 6)]
        channels.append(
            np.sin(x / width * fx * 6 + phase) * np.cos(y / height * fy * 6) * 0.5 + 0.5
        )
    pixels = (np.stack(channels, axis=-1) * 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


@pytest.fixture
def make_photo() -> Callable[..., Image.Image]:
    return photo


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder with 5 good photos (one in a subfolder), one corrupt JPEG and one text file."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(4):
        photo(320 + 40 * i, 240, seed=i).save(folder / f"img{i}.jpg", quality=90)
    photo(200, 300, seed=9).save(folder / "sub" / "tall.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 3-class ResNet-18 model file with a 64 px input (random weights, fixed seed)."""
    import torch

    from engine.imaging.preprocess import PreprocessSpec
    from engine.models.model_file import ModelInfo, save_model_file
    from engine.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=3)
    info = ModelInfo(
        arch="resnet18",
        class_names=("cat", "=cmd|' /C calc'!A0", "dog"),
        preprocess=PreprocessSpec(resize=73, crop=64),
        extra={"note": "test model"},
    )
    path = tmp_path_factory.mktemp("models") / "tiny.reslens"
    save_model_file(path, model.state_dict(), info)
    yield path
