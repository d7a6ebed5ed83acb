"""``reslens classify --out`` interrupted for real (SIGINT, SIGKILL), then ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main
from tests.conftest import photo

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.usefixtures("one_torch_thread"),
]

COUNT = 48


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    (root / "b").mkdir()
    for i in range(COUNT):
        photo(64, 48, seed=i).save(root / ("b" if i % 5 == 0 else "") / f"img{i:03d}.jpg")
    return root


def _command(folder: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "engine.cli", "classify", str(folder), "--model", str(model),
        "--backend", "torch", "--device", "cpu", "--batch-size", "4", "--out", str(out), *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    # One torch thread: two threads crawl when other processes hold the cores (shared CI).
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}


def _rows(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _same_predictions(rows: list[dict], expected: list[dict]) -> None:  # type: ignore[type-arg]
    assert [r["path"] for r in rows] == [r["path"] for r in expected]
    for row, want in zip(rows, expected, strict=True):
        assert [p["index"] for p in row["predictions"]] == [p["index"] for p in want["predictions"]]
        got = [p["prob"] for p in row["predictions"]]
        assert got == pytest.approx([p["prob"] for p in want["predictions"]], abs=2e-6)
        assert (row["size"], row["mtime"], row["model"]) == (
            want["size"],
            want["mtime"],
            want["model"],
        )


@pytest.fixture(scope="module")
def uninterrupted(
    folder: Path, tiny_model_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[dict]:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("whole") / "all.jsonl"
    done = subprocess.run(
        _command(folder, tiny_model_file, out),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert len(rows) == COUNT and len({r["path"] for r in rows}) == COUNT
    return rows


def _interrupt(command: list[str], partial: Path, sig: int) -> subprocess.CompletedProcess[str]:
    """Start ``command``, send ``sig`` once ``partial`` holds a row, wait for the exit."""
    proc = subprocess.Popen(
        command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.is_file() and partial.stat().st_size > 0:
            proc.send_signal(sig)
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_resume_after_a_signal_gives_each_file_once_as_an_uninterrupted_run(
    folder: Path,
    tiny_model_file: Path,
    tmp_path: Path,
    uninterrupted: list[dict],
    sig: int,  # type: ignore[type-arg]
) -> None:
    out = tmp_path / "results.jsonl"
    partial = out.with_name("results.jsonl.partial")
    command = _command(folder, tiny_model_file, out)
    stopped = _interrupt(command, partial, sig)
    assert stopped.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), stopped.stderr
    assert not out.exists() and partial.is_file()
    kept = len(partial.read_text(encoding="utf-8").splitlines())
    assert 0 < kept < COUNT
    if sig == signal.SIGINT:
        assert f"kept {kept} rows in {partial}" in stopped.stderr
        assert "--resume" in stopped.stderr.splitlines()[-1]
    resumed = subprocess.run(
        [*command, "--resume"], env=_env(), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr
    assert not partial.exists()
    _same_predictions(_rows(out), uninterrupted)


def test_a_half_written_last_line_is_dropped_and_the_order_is_an_uninterrupted_runs(
    folder: Path,
    tiny_model_file: Path,
    tmp_path: Path,
    uninterrupted: list[dict],  # type: ignore[type-arg]
) -> None:
    out = tmp_path / "r.jsonl"
    lines = [json.dumps(row) + "\n" for row in uninterrupted]
    # What a power cut leaves: rows from the middle and the end, then half a line.
    kept = lines[5:9] + lines[-3:]
    (tmp_path / "r.jsonl.partial").write_text("".join(kept) + lines[9][:40], encoding="utf-8")
    argv = ["classify", str(folder), "--model", str(tiny_model_file), "--backend", "torch"]
    assert main([*argv, "--batch-size", "4", "--out", str(out), "--resume"]) == 0
    _same_predictions(_rows(out), uninterrupted)


def test_resuming_with_another_model_or_top_k_is_refused(
    folder: Path,
    tiny_model_file: Path,
    tmp_path: Path,
    uninterrupted: list[dict],  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    from engine.models.model_file import read_model_info, save_model_file
    from engine.models.registry import build_model

    out = tmp_path / "r.jsonl"
    partial = tmp_path / "r.jsonl.partial"
    text = "".join(json.dumps(row) + "\n" for row in uninterrupted[:10])
    partial.write_text(text, encoding="utf-8")
    other = tmp_path / "other.reslens"  # the same classes and preprocessing, other weights
    torch.manual_seed(1)
    save_model_file(
        other, build_model("resnet18", num_classes=3).state_dict(), read_model_info(tiny_model_file)
    )
    base = ["classify", str(folder), "--out", str(out), "--resume", "--backend", "torch"]
    assert main([*base, "--model", str(other)]) == 2
    assert main([*base, "--model", str(tiny_model_file), "--top-k", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("was made by another model") == 2, err
    assert partial.read_text(encoding="utf-8") == text and not out.exists()
