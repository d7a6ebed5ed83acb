"""The pieces of packaging/build.py and reslens.spec that do not need a build: the archive and
the bundle's notices from the files PyInstaller collects."""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path

import PIL
import pytest
import zstandard

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))

from archive import folder_size, write_archive  # noqa: E402
from bundle_notices import bundle_notices  # noqa: E402

from engine.notices import parse_notices  # noqa: E402


@pytest.mark.skipif(sys.platform == "win32", reason="Windows gets a zip")
def test_the_archive_holds_every_file_and_keeps_links(tmp_path: Path) -> None:
    bundle = tmp_path / "ResLens"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "libbig.so.1").write_bytes(b"\0" * 100_000)
    (bundle / "_internal" / "libbig.so").symlink_to("libbig.so.1")
    (bundle / "ResLens").write_text("#!/bin/sh\n")

    archive = write_archive(bundle, tmp_path / "ResLens-0.1.0-linux-x86_64-cpu")

    assert archive.name == "ResLens-0.1.0-linux-x86_64-cpu.tar.zst"
    assert archive.stat().st_size < folder_size(bundle) / 10  # zeros compress well
    assert not list(tmp_path.glob("*.partial"))
    with (
        open(archive, "rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        members = {m.name: m for m in tar}
    assert set(members) == {
        "ResLens", "ResLens/ResLens", "ResLens/_internal",
        "ResLens/_internal/libbig.so.1", "ResLens/_internal/libbig.so",
    }  # fmt: skip
    assert members["ResLens/_internal/libbig.so"].issym()
    assert members["ResLens/_internal/libbig.so.1"].size == 100_000


def test_notices_name_the_distributions_python_and_system_libraries_collected() -> None:
    pil_file = str(Path(PIL.__file__))
    stdlib_file = os.__file__
    system_lib = next(
        (p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1")
         if Path(p).is_file()), None,
    )  # fmt: skip
    binaries = [system_lib] if system_lib else []

    text, notices = bundle_notices([pil_file, stdlib_file, *binaries], binaries)

    names = [n.name for n in parse_notices(text)]
    assert names[:3] == ["python", "pillow", "pyinstaller"]  # stdlib -> python; the bootloader
    assert not notices[2].gpl_only and "Bootloader-exception" in notices[2].licence
    assert parse_notices(text) == notices
    if system_lib and Path("/usr/bin/dpkg").exists():
        assert names[3:] == ["zlib1g (system)"]
        assert "Zlib" in notices[3].licence
