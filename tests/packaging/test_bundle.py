"""Build the PyInstaller bundle and run it as a user would: ``ResLens --version`` and
``ResLens --self-test`` (offscreen, no display, an empty torch cache).

Slow (a full build takes 5-15 minutes on 2 cores), so marked ``packaging`` and run by
``make package``. ``RESLENS_BUNDLE=dist/ResLens`` tests an existing bundle without rebuilding.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = "ResLens.exe" if sys.platform == "win32" else "ResLens"

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def bundle() -> Iterator[Path]:
    existing = os.environ.get("RESLENS_BUNDLE")
    if existing:
        yield Path(existing).resolve()
        return
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py")], check=True, cwd=ROOT)
    yield ROOT / "dist" / "ResLens"


def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: no display, empty caches and settings, no test-only Qt platform."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    env.pop("PYTHONPATH", None)
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
    log = Path(env["XDG_STATE_HOME"]) / "ResLens" / "log" / "reslens.log"
    assert "OK      classify" in log.read_text(encoding="utf-8")


def test_bundle_holds_what_the_app_needs_and_not_what_it_does_not(bundle: Path) -> None:
    internal = bundle / "_internal"
    names = {p.name for p in internal.rglob("*")}

    assert any(n.startswith("_C_stable") for n in names)  # torchvision's ops (a known trap)
    assert (internal / "assets" / "samples" / "cat.jpg").is_file()
    assert (internal / "assets" / "icons" / "reslens-256.png").is_file()
    assert not (internal / "triton").exists()
    top_level = {p.name for p in internal.iterdir()}
    assert not top_level & {"matplotlib", "skimage", "scipy", "pytest", "tests", "bench"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF dependency check")
def test_every_linked_library_is_in_the_bundle(bundle: Path) -> None:
    sys.path.insert(0, str(ROOT / "packaging"))
    from build import missing_libraries

    assert missing_libraries(bundle) == {}
