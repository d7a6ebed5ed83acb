"""The declared dependencies, read from pyproject.toml and evaluated with `packaging` markers for
each platform a user may install on (nothing is installed or downloaded)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# (sys_platform, platform_machine, platform_system, os_name) -> the ONNX Runtime build pip picks.
PLATFORMS = {
    "linux x86_64": (("linux", "x86_64", "Linux", "posix"), "onnxruntime-gpu"),
    "linux aarch64": (("linux", "aarch64", "Linux", "posix"), "onnxruntime"),
    "windows AMD64": (("win32", "AMD64", "Windows", "nt"), "onnxruntime-gpu"),
    "windows ARM64": (("win32", "ARM64", "Windows", "nt"), "onnxruntime"),
    "macos arm64": (("darwin", "arm64", "Darwin", "posix"), "onnxruntime"),
    "macos x86_64": (("darwin", "x86_64", "Darwin", "posix"), "onnxruntime"),
}


def requirements() -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in PROJECT["project"]["dependencies"]]
    return {
        r.name.lower(): r for r in reqs if r.name.lower() not in ("onnxruntime", "onnxruntime-gpu")
    }


def selected(platform: tuple[str, str, str, str]) -> list[str]:
    """The distributions pip would install from our dependency list on ``platform``."""
    sys_platform, machine, system, os_name = platform
    env = dict(default_environment())
    env.update(
        sys_platform=sys_platform,
        platform_machine=machine,
        platform_system=system,
        os_name=os_name,
        python_version="3.11",
        python_full_version="3.11.7",
        extra="",
    )
    chosen = []
    for line in PROJECT["project"]["dependencies"]:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            chosen.append(req.name)
    return chosen


@pytest.mark.parametrize("name", list(PLATFORMS))
def test_each_platform_gets_exactly_one_onnx_runtime_and_the_right_one(name: str) -> None:
    platform, expected = PLATFORMS[name]

    chosen = selected(platform)

    runtimes = [n for n in chosen if n.lower().startswith("onnxruntime")]
    assert runtimes == [expected]
    assert {"torch", "torchvision", "PySide6-Essentials", "pydicom"} <= set(chosen)


@pytest.mark.parametrize(
    ("dist", "too_old", "oldest_good", "newest_good", "too_new"),
    [
        # torch.onnx.export(dynamo=...) is new in 2.5; capped by minor version, never above 2.14.1
        ("torch", "2.4.1", "2.5.0", "2.14.1", "2.15.0"),
        ("torchvision", "0.19.1", "0.20.0", "0.29.1", "0.30.0"),
        # ImageFont.load_default(size=...) is new in Pillow 10.1
        ("pillow", "10.0.1", "10.1.0", "12.0.0", None),
        ("pydicom", "2.4.4", "3.0.0", "3.0.2", None),
        ("platformdirs", "2.5.4", "2.6.0", "4.3.6", None),
    ],
)
def test_floors_and_caps(
    dist: str, too_old: str, oldest_good: str, newest_good: str, too_new: str | None
) -> None:
    spec = requirements()[dist].specifier

    assert Version(too_old) not in spec
    assert Version(oldest_good) in spec and Version(newest_good) in spec
    if too_new is not None:
        assert Version(too_new) not in spec


def test_caps_are_by_minor_version_not_by_patch() -> None:
    for req in requirements().values():
        for clause in req.specifier:
            assert clause.operator in (">=", "<"), f"{req}: pin ranges, not {clause}"
            if clause.operator == "<":
                assert Version(clause.version).micro == 0, f"{req}: cap at a minor release"


def test_licence_metadata_is_the_spdx_form_with_the_licence_file() -> None:
    project = PROJECT["project"]

    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("BSD 3-Clause License")
    # PEP 639 metadata needs setuptools >= 77
    backend = Requirement(PROJECT["build-system"]["requires"][0])
    assert backend.name == "setuptools"
    assert Version("76.1") not in backend.specifier and Version("77.0") in backend.specifier


def test_the_linux_x86_64_constraints_pin_what_pyproject_allows() -> None:
    sys.path.insert(0, str(ROOT / "packaging"))
    from lock import read_constraints

    pins = read_constraints(ROOT / "packaging" / "constraints" / "linux-x86_64.txt")
    declared = selected(PLATFORMS["linux x86_64"][0])

    for line in (
        PROJECT["project"]["dependencies"] + PROJECT["project"]["optional-dependencies"]["package"]
    ):
        req = Requirement(line)
        if req.name not in declared and req.name not in ("pyinstaller", "zstandard"):
            continue
        pinned = pins[canonicalize_name(req.name)]
        assert Version(pinned) in req.specifier, f"{req.name}=={pinned} breaks {req}"
    assert "onnxruntime" not in pins  # the GPU build only, never both
    assert "pylibjpeg-rle" not in pins  # pydicom decodes RLE itself
    assert all(
        "==" in p or p.startswith("#")
        for p in (ROOT / "packaging" / "constraints" / "linux-x86_64.txt").read_text().splitlines()
        if p
    )
