from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.cli import main


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_classify_folder_with_broken_file_exits_1_and_leaves_input_alone(
    image_folder: Path, tiny_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _tree(image_folder)
    out = tmp_path / "results.jsonl"
    code = main(
        [
            "classify",
            str(image_folder),
            "--model",
            str(tiny_model_file),
            "--out",
            str(out),
            "--top-k",
            "2",
        ]
    )
    assert code == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6
    errors = [r for r in rows if "error" in r]
    assert [Path(r["path"]).name for r in errors] == ["broken.jpg"]
    good = [r for r in rows if "predictions" in r]
    assert all(len(r["predictions"]) == 2 for r in good)
    assert _tree(image_folder) == before
    assert "1 of 6 files failed" in capsys.readouterr().err


def test_classify_sorts_copies(image_folder: Path, tiny_model_file: Path, tmp_path: Path) -> None:
    good = image_folder / "img0.jpg"
    dest = tmp_path / "sorted"
    code = main(
        [
            "classify",
            str(good),
            "--model",
            str(tiny_model_file),
            "--sort-into",
            str(dest),
            "--min-confidence",
            "0.99",
        ]
    )
    assert code == 0
    assert [p.name for p in (dest / "_uncertain").iterdir()] == ["img0.jpg"]
    assert good.exists()


def test_explain_writes_overlay_with_the_image_size(
    tiny_model_file: Path, tmp_path: Path, make_photo
) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "wide.jpg"
    make_photo(300, 150).save(src)
    out = tmp_path / "overlay.png"
    assert (
        main(
            [
                "explain",
                str(src),
                "--model",
                str(tiny_model_file),
                "--class",
                "DOG",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with Image.open(out) as overlay:
        assert overlay.size == (300, 150)


def test_unknown_class_and_missing_weights_are_one_line_errors(
    tiny_model_file: Path,
    tmp_path: Path,
    make_photo,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    src = tmp_path / "a.png"
    make_photo(80, 80).save(src)
    assert (
        main(
            [
                "explain",
                str(src),
                "--model",
                str(tiny_model_file),
                "--class",
                "zebra",
                "--out",
                str(tmp_path / "o.png"),
            ]
        )
        == 2
    )
    assert main(["classify", str(src), "--model", "resnet18"]) == 2
    err = capsys.readouterr().err
    assert "no class 'zebra'" in err
    assert "resnet18-" in err and "Traceback" not in err


def test_models_lists_architectures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "densenet121" in out and "missing" in out


def test_console_script_runs_as_a_process(image_folder: Path, tiny_model_file: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "classify",
            str(image_folder / "img1.jpg"),
            "--model",
            str(tiny_model_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(image_folder / "img1.jpg"))
    assert "%" in done.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_line_in_place_on_a_terminal_and_silent_when_piped() -> None:
    from engine.cli.common import ProgressBar
    from engine.jobs import ProgressMeter

    for stream, shown in ((_Terminal(), True), (io.StringIO(), False)):
        bar = ProgressBar(stream)
        meter = ProgressMeter(64)
        for _ in range(8):
            bar.show(meter.advance(8, failed=1))
        bar.close()
        text = stream.getvalue()
        if not shown:
            assert text == ""
            continue
        assert "\n" not in text.rstrip("\n") and text.count("\r") >= 8
        drawn = [line for line in text.split("\r") if line.strip()]
        assert "64/64" in drawn[-1] and "8 failed" in drawn[-1]
        assert not any(")" in line for line in drawn)
        assert text.endswith("\r")  # the line is cleared for what comes next


def test_first_onnx_run_says_it_prepares_a_copy_and_the_provider_note_needs_verbose(
    image_folder: Path, tiny_model_file: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "RESLENS_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "engine.cli", "classify", str(image_folder / "img1.jpg")]
    command += ["--model", str(tiny_model_file), "--backend", "onnx"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr
    assert "preparing a verified ONNX Runtime copy of tiny.reslens (once)…" in first.stderr
    assert "onnxruntime" not in first.stderr and "provider" not in first.stderr
    second = subprocess.run(
        [*command, "--verbose"], capture_output=True, text=True, timeout=600, env=env
    )
    assert second.returncode == 0, second.stderr
    assert "preparing" not in second.stderr
    assert "onnxruntime: CPU provider" in second.stderr


def test_sorting_from_the_streamed_rows_again_makes_no_duplicate_copies(
    image_folder: Path, tiny_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest, out = tmp_path / "sorted", tmp_path / "r.csv"
    argv = ["classify", str(image_folder), "--model", str(tiny_model_file), "--backend", "torch"]
    argv += ["--out", str(out), "--sort-into", str(dest)]
    assert main(argv) == 1  # broken.jpg
    first = _tree(dest)
    assert len(first) == 5
    assert main([*argv, "--resume"]) == 1  # everything done: only broken.jpg is tried again
    assert _tree(dest) == first
    err = capsys.readouterr().err
    assert "resuming: 5 files already done, 1 to classify" in err
    assert "copied 0 files" in err and "(5 were already there)" in err
