"""The packaged app's entry script, run from source: flags, streams of a windowed app, and the
window part of the self-test. (tests/packaging/test_bundle.py runs the real bundle.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gui.selftest import check_window

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))

import launcher  # noqa: E402


def test_version_prints_one_line_without_starting_the_app() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "launcher.py"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ResLens ")
    assert "torch" in done.stdout
    assert len(done.stdout.strip().splitlines()) == 1


def test_a_windowed_app_without_streams_writes_to_the_log_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(launcher, "log_dir", lambda: tmp_path / "log")
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)

    launcher.fix_std_streams([])
    sys.stderr.write("progress 10%\r")  # what torch's download progress and tqdm do
    print("hello", flush=True)

    text = (tmp_path / "log" / launcher.LOG_NAME).read_text(encoding="utf-8")
    assert "progress 10%" in text
    assert "hello" in text


def test_streams_that_exist_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    before = sys.stdout
    launcher.fix_std_streams(["--self-test"])
    assert sys.stdout is before


def test_the_main_window_opens_and_closes_offscreen(qapp: object) -> None:
    check = check_window()

    assert check.status == "ok", check.detail
    assert "closed" in check.detail
