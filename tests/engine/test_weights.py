from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.errors import ModelLoadError, WeightsNotFoundError
from engine.inference.loader import load_classifier
from engine.models.registry import build_model
from engine.models.weights import hub_cache_dir, load_state_dict, resolve_weights, weights_filename


def test_offline_without_weights_names_the_file_and_folder(torch_home: Path) -> None:
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights("resnet18")
    message = str(info.value)
    assert weights_filename("resnet18") in message
    assert str(hub_cache_dir()) in message
    assert str(torch_home) in message
    assert "download failed" in message


def test_weights_in_the_torch_hub_cache_are_found_and_used(torch_home: Path) -> None:
    torch.manual_seed(1)
    reference = build_model("resnet18")
    cache = hub_cache_dir()
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / weights_filename("resnet18"))

    source = resolve_weights("resnet18", allow_download=False)
    assert source.origin == "cache"
    classifier = load_classifier("resnet18", device="cpu", allow_download=False)
    assert classifier.source.pretrained
    assert "cache" in classifier.source.weights
    loaded = classifier.backend.model.state_dict()  # type: ignore[attr-defined]
    assert torch.equal(loaded["fc.weight"], reference.state_dict()["fc.weight"])
    assert classifier.class_names[0] == "tench"
    assert len(classifier.class_names) == 1000


def test_user_weights_file_wins_and_safetensors_work(tmp_path: Path) -> None:
    model = build_model("resnet18")
    path = tmp_path / "mine.safetensors"
    save_file({f"module.{k}": v.contiguous() for k, v in model.state_dict().items()}, str(path))
    assert resolve_weights("resnet18", user_file=path).origin == "file"
    state = load_state_dict(path)
    assert "fc.weight" in state  # DataParallel prefix removed


def test_weights_for_another_architecture_are_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "wrong.pth"
    torch.save(build_model("resnet18").state_dict(), path)
    with pytest.raises(ModelLoadError, match="does not fit resnet34"):
        load_classifier("resnet34", weights=path, device="cpu")


def test_pickled_code_is_never_executed(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": Evil()}, path)
    with pytest.raises(ModelLoadError, match="Cannot read weights"):
        load_state_dict(path)


def test_static_weights_urls_and_cache_dir_agree_with_torchvision(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from engine.models.registry import ARCHITECTURES, pretrained_weights

    for arch in ARCHITECTURES:
        assert ARCHITECTURES[arch].weights_url == pretrained_weights(arch).url
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert hub_cache_dir() == Path(torch.hub.get_dir()) / "checkpoints"
