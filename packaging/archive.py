"""The downloadable archive of a bundle and what its size is made of.

``.tar.zst`` on Linux and macOS (zstandard, multi-threaded; ``.tar.xz`` when the zstandard
module is missing), ``.zip`` on Windows. Symbolic links stay links; the archive is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import sys
import tarfile
import zipfile
from pathlib import Path

# What a CPU-only torch and onnxruntime would not carry (see packaging/README.md).
CUDA_PARTS = (
    "nvidia/", "cuda", "libcudnn", "libcublas", "libcufft", "libcusparse", "libcurand",
    "libnccl", "libnvrtc", "libnvjitlink", "libcupti", "libnvToolsExt", "libcufile",
    "libnvshmem", "libtorch_cuda", "libc10_cuda", "providers_cuda", "libcusolver",
)  # fmt: skip


def folder_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (links not counted twice)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def cuda_size(folder: Path) -> int:
    """Bytes of the CUDA libraries under ``folder``."""
    return sum(
        p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink() and any(c in p.as_posix() for c in CUDA_PARTS)
    )


def largest(folder: Path, count: int = 8) -> list[tuple[str, int]]:
    """The ``count`` largest entries right under ``folder``, as (name, bytes)."""
    entries = [p for p in folder.iterdir() if not p.is_symlink()]
    sizes = [(p.name, folder_size(p) if p.is_dir() else p.stat().st_size) for p in entries]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def largest_files(folder: Path, count: int = 6) -> list[tuple[str, int]]:
    """The ``count`` largest files anywhere under ``folder``, as (relative path, bytes)."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    sizes = [(str(p.relative_to(folder)), p.stat().st_size) for p in files]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def archive_suffix() -> str:
    if sys.platform == "win32":
        return ".zip"
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return ".tar.xz"
    return ".tar.zst"


def write_archive(folder: Path, stem: Path, level: int = 10) -> Path:
    """Pack ``folder`` (its name as the top folder) into ``stem`` + the platform's suffix."""
    target = stem.with_name(stem.name + archive_suffix())
    partial = target.with_name(target.name + ".partial")
    if target.name.endswith(".zip"):
        _zip(folder, partial)
    elif target.name.endswith(".zst"):
        import zstandard

        compressor = zstandard.ZstdCompressor(level=level, threads=-1)
        with (
            open(partial, "wb") as raw,
            compressor.stream_writer(raw) as stream,
            tarfile.open(fileobj=stream, mode="w|") as tar,
        ):
            tar.add(folder, arcname=folder.name)
    else:
        with tarfile.open(partial, "w:xz", preset=6) as tar:
            tar.add(folder, arcname=folder.name)
    os.replace(partial, target)
    return target


def _zip(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
