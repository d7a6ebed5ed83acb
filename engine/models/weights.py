"""Where pretrained weights come from: a file the user chose, the app bundle, the torch hub
cache, or a download on first use.

Everything here reads weights without unpickling arbitrary objects: safetensors files directly,
torch pickles only through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.atomic import atomic_open
from engine.errors import Cancelled, ModelLoadError, WeightsNotFoundError
from engine.models.registry import get_architecture
from engine.resources import bundled_weights_dir

if TYPE_CHECKING:
    import torch

    from engine.jobs import CancelToken

log = logging.getLogger(__name__)

Origin = Literal["file", "bundle", "cache", "download"]
DownloadProgress = Callable[[int, int | None], None]
"""Called with (bytes received, total bytes or None)."""

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightsSource:
    path: Path
    origin: Origin


def weights_url(arch: str) -> str:
    return get_architecture(arch).weights_url


def weights_filename(arch: str) -> str:
    """torchvision's file name for ``arch``'s default weights, e.g. ``resnet50-11ad3fa6.pth``."""
    return weights_url(arch).rsplit("/", 1)[-1]


def hub_cache_dir() -> Path:
    """torch hub's checkpoint folder ($TORCH_HOME/hub/checkpoints), shared with torchvision.

    Computed as torch.hub does, without importing torch (the ONNX path never needs it).
    """
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    home = os.environ.get("TORCH_HOME") or os.path.join(cache, "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def find_weights(arch: str) -> WeightsSource | None:
    """Weights already on this machine: bundled with the app first, then the hub cache."""
    name = weights_filename(arch)
    for folder, origin in ((bundled_weights_dir(), "bundle"), (hub_cache_dir(), "cache")):
        candidate = folder / name
        if candidate.is_file():
            return WeightsSource(candidate, origin)  # type: ignore[arg-type]
    return None


def resolve_weights(
    arch: str,
    *,
    user_file: str | Path | None = None,
    allow_download: bool = True,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> WeightsSource:
    """Find pretrained weights for ``arch``, downloading them once if allowed.

    A file the user names always wins; otherwise bundle, cache, then download into the cache.
    Raises :class:`WeightsNotFoundError` naming the file and folder when none can be had.
    """
    if user_file is not None:
        path = Path(user_file).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"Weights file not found: {path}")
        return WeightsSource(path, "file")
    found = find_weights(arch)
    if found is not None:
        return found
    name, folder, url = weights_filename(arch), hub_cache_dir(), weights_url(arch)
    if not allow_download:
        raise WeightsNotFoundError(arch, name, folder, url, "not downloaded yet")
    try:
        return WeightsSource(download_weights(arch, progress=progress, cancel=cancel), "download")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsNotFoundError(arch, name, folder, url, f"download failed: {reason}") from exc


def download_weights(
    arch: str, *, progress: DownloadProgress | None = None, cancel: CancelToken | None = None
) -> Path:
    """Download ``arch``'s weights into the hub cache, checking the hash in the file name."""
    url, target = weights_url(arch), hub_cache_dir() / weights_filename(arch)
    log.info("downloading %s to %s", url, target)
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with atomic_open(target, "wb") as out:
            received = 0
            while chunk := response.read(_CHUNK):
                if cancel is not None and cancel.cancelled:
                    raise Cancelled("Download cancelled.")
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if progress is not None:
                    progress(received, total)
            _check_hash(target.name, digest.hexdigest())
    return target


def _check_hash(name: str, sha256: str) -> None:
    match = _HASH_IN_NAME.search(name)
    if match and not sha256.startswith(match.group(1)):
        raise ModelLoadError(f"Downloaded {name} is corrupt (hash mismatch); try again.")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file, never unpickling code.

    Checkpoints that wrap the weights (``{"state_dict": ...}`` or ``{"model": ...}``) are
    unwrapped, and a ``module.`` prefix from DataParallel is removed.
    """
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    state: Any
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many types for a bad file
        raise ModelLoadError(f"Cannot read weights from {path}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{path} does not contain a state dict of tensors.")
    return {k.removeprefix("module."): v for k, v in state.items()}


_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def load_pretrained_into(model: torch.nn.Module, arch: str, path: str | Path) -> None:
    """Load weights from ``path`` into ``model``, with a clear error when they do not fit."""
    state = load_state_dict(path)
    if get_architecture(arch).name.startswith("densenet"):
        # torchvision's DenseNet files predate its current parameter names ("norm.1" -> "norm1").
        state = {_DENSENET_OLD_KEY.sub(r"\1\2", k): v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelLoadError(f"{path} does not fit {arch}: {first}") from exc
