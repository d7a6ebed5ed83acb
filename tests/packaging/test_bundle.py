"""Build the PyInstaller bundle, with pretrained weights, and run it as a user would on a first
start without network: ``ResLens --version`` and ``ResLens --self-test`` (offscreen, no display,
empty caches). Also: its third-party notices, its archive, what it leaves out.

The weights are a ResNet-50 state dict with random values under torchvision's file name (real
ones cannot be downloaded here): the mechanism is the same. Slow (a build takes about 5 minutes
on 2 cores), so marked ``packaging`` and run by ``make package``. ``RESLENS_BUNDLE=dist/ResLens``
tests an existing bundle without rebuilding.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.notices import canonical, parse_notices

ROOT = Path(__file__).resolve().parents[2]
EXE = "ResLens.exe" if sys.platform == "win32" else "ResLens"

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    existing = os.environ.get("RESLENS_BUNDLE")
    if existing:
        yield Path(existing).resolve()
        return
    import torch

    from engine.models.registry import build_model

    weights = tmp_path_factory.mktemp("weights") / "resnet50-random.pth"
    torch.manual_seed(0)
    torch.save(build_model("resnet50").state_dict(), weights)
    build = [
        sys.executable,
        str(ROOT / "packaging" / "build.py"),
        "--weights",
        f"resnet50={weights}",
    ]
    subprocess.run(build, check=True, cwd=ROOT)
    yield ROOT / "dist" / "ResLens"


def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: no display, empty caches and settings, no test-only Qt platform."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    env.pop("PYTHONPATH", None)
    env.pop("RESLENS_CACHE_DIR", None)  # the tests' own cache; a user has the default one
    for name in ("HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TORCH_HOME"):
        env[name] = str(tmp_path / name.lower())
    return env


def run_app(bundle: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bundle / EXE), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_version(bundle: Path, tmp_path: Path) -> None:
    done = run_app(bundle, "--version", env=user_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ResLens 0.1.0 ")
    assert "packaged" in done.stdout
    assert "[CPU bundle]" in done.stdout or "[CUDA bundle]" in done.stdout


def test_self_test_passes_offscreen(bundle: Path, tmp_path: Path) -> None:
    env = user_env(tmp_path)
    done = run_app(bundle, "--self-test", env=env)

    summary = done.stdout.splitlines()[0] if done.stdout else ""
    print(done.stdout, done.stderr[-3000:], sep="\n")
    assert done.returncode == 0, summary or done.stderr[-3000:]
    assert summary.startswith("ResLens self-test passed")
    for check in ("window", "torch", "model", "classify 6 sample photos", "gradcam", "onnx"):
        assert check in summary
    assert "dicom RLE and JPEG 2000 lossless DICOM decode exactly" in summary
    log = Path(env["XDG_STATE_HOME"]) / "ResLens" / "log" / "reslens.log"
    assert "OK      classify" in log.read_text(encoding="utf-8")
    if (bundle / "_internal" / "assets" / "weights").is_dir():  # built with weights
        assert "model ResNet-50 (pretrained" in summary
        assert "weights bundled resnet50-11ad3fa6.pth, each with its verified ONNX copy" in summary
        # nothing was exported on this first start: the bundled copy served (the cache holds
        # at most its graph optimised for this machine)
        cached = Path(env["XDG_CACHE_HOME"]).rglob("*.onnx")
        assert not [p for p in cached if not p.name.endswith(".opt.onnx")]


def test_bundle_holds_what_the_app_needs_and_not_what_it_does_not(bundle: Path) -> None:
    internal = bundle / "_internal"
    names = {p.name for p in internal.rglob("*")}

    assert any(n.startswith("_C_stable") for n in names)  # torchvision's ops (a known trap)
    assert (internal / "assets" / "samples" / "cat.jpg").is_file()
    assert (internal / "assets" / "icons" / "reslens-256.png").is_file()
    assert not (internal / "triton").exists()
    top_level = {p.name for p in internal.iterdir()}
    assert not top_level & {"matplotlib", "skimage", "scipy", "pytest", "tests", "bench", "rle"}
    assert not list(internal.glob("PySide6/Qt/translations/*"))  # no QTranslator in the app
    assert not list(internal.rglob("libreadline*"))  # GPL-3, only for interactive prompts
    assert not top_level & {"pyarrow", "pytest", "requests", "rich", "zstandard"}  # dev venv
    assert not [p for p in internal.rglob("tests") if p.is_dir()]  # libraries' test data
    assert (bundle / "LICENSE").read_text().startswith("BSD 3-Clause License")


def bundled_distributions(bundle: Path) -> set[str]:
    """Distributions with a file in the bundle, found from the bundle itself (independently of
    how the spec did it): each installed distribution's RECORD paths looked up among the
    bundle's files and the modules inside the executable's archive. (Top-level names are not
    enough: ``nvidia/`` and ``cuda/`` are namespaces shared by many wheels, not all bundled.)"""
    from PyInstaller.archive.readers import pkg_archive_contents

    internal = bundle / "_internal"
    modules = set(pkg_archive_contents(str(bundle / EXE)))
    found = set()
    for dist in md.distributions():
        for line in (dist.read_text("RECORD") or "").splitlines():
            path = line.rsplit(",", 2)[0].strip('"')
            module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            in_archive = path.endswith(".py") and module in modules
            if in_archive or (".dist-info/" not in path and (internal / path).is_file()):
                found.add(canonical(dist.metadata["Name"]))
                break
    return found - {"reslens"}


def test_the_notices_list_every_bundled_distribution_with_its_licence(bundle: Path) -> None:
    shipped = bundle / "_internal" / "assets" / "THIRD_PARTY_NOTICES.txt"
    notices = {n.name: n for n in parse_notices(shipped.read_text(encoding="utf-8"))}

    in_bundle = bundled_distributions(bundle)

    assert {"torch", "pyside6-essentials", "onnxruntime-gpu", "pydicom", "numpy"} <= in_bundle
    assert sorted(in_bundle - set(notices)) == []
    assert "python" in notices and notices["python"].licence == "PSF-2.0"
    assert [n for n, notice in notices.items() if notice.gpl_only and "(system)" not in n] == []
    assert notices["torch"].texts and notices["pyside6-essentials"].licence.startswith("LGPL")
    assert (bundle / "THIRD_PARTY_NOTICES.txt").read_bytes() == shipped.read_bytes()


def test_the_archive_holds_the_bundle(bundle: Path) -> None:
    import zstandard

    archives = sorted(bundle.parent.glob("ResLens-*.tar.zst"))
    assert archives, f"no archive beside {bundle}"
    assert (
        0
        < archives[-1].stat().st_size
        < sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    )
    with (
        open(archives[-1], "rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        first = [member.name for _, member in zip(range(50), tar, strict=False)]
    assert "ResLens" in first and f"ResLens/{EXE}" in first


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF dependency check")
def test_every_linked_library_is_in_the_bundle(bundle: Path) -> None:
    sys.path.insert(0, str(ROOT / "packaging"))
    from build import missing_libraries

    assert missing_libraries(bundle) == {}
