"""The backend tuner: candidates by machine, verification before use, a cache per machine."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from engine.inference.loader import load_classifier
from engine.inference.tuned import load_tuned, read_tuning, tuning_path
from engine.inference.tuner import BASELINE, REFERENCE, TENSORRT, Trial, Tuning, choose, plan
from engine.onnx.cache import cached_model
from engine.onnx.parity import Tolerance
from engine.runtime.machine import Machine, this_machine
from tests.conftest import photo

AVX2 = frozenset({"avx2", "fma"})
AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})


def _names(offers: list) -> list[str]:  # type: ignore[type-arg]
    return [o.name for o in offers]


def test_candidates_follow_the_machine_and_the_int8_permission() -> None:
    offered, skipped = plan("cpu", cpu_flags=AVX2, onnxruntime=None, allow_int8=False)
    assert _names(offered) == [REFERENCE, BASELINE]
    assert {o.name: o.reason for o in skipped}["torch bf16"] == "no AMX-BF16/AVX512-BF16"
    assert "--fast" in {o.name: o.reason for o in skipped}["onnxruntime int8"]
    offered, _ = plan("cpu", cpu_flags=AMX, onnxruntime=None, allow_int8=True)
    assert _names(offered) == [REFERENCE, BASELINE, "torch bf16", "onnxruntime int8"]
    offered, skipped = plan("cpu", cpu_flags=AMX, onnxruntime="not installed", allow_int8=True)
    assert _names(offered) == [REFERENCE, "torch bf16"]
    assert {o.name: o.reason for o in skipped}[BASELINE] == "not installed"
    offered, _ = plan("cuda", cpu_flags=AVX2, onnxruntime=None, allow_int8=True, cuda_bf16=False)
    assert _names(offered) == [REFERENCE, BASELINE, "torch fp16"]


def test_tensorrt_is_a_candidate_on_a_gpu_only_where_its_libraries_are() -> None:
    offered, skipped = plan(
        "cuda", cpu_flags=AVX2, onnxruntime=None, allow_int8=False, cuda_bf16=True, tensorrt=None
    )
    assert _names(offered) == [REFERENCE, BASELINE, "torch bf16", TENSORRT]
    assert {o.name: o.reason for o in offered}[BASELINE] == "its CUDA provider"
    missing = "TensorRT's libraries are not installed (libnvinfer.so.10)"
    offered, skipped = plan(
        "cuda", cpu_flags=AVX2, onnxruntime=None, allow_int8=False, tensorrt=missing
    )
    assert TENSORRT not in _names(offered)
    assert {o.name: o.reason for o in skipped}[TENSORRT] == missing
    offered, _ = plan("cpu", cpu_flags=AVX2, onnxruntime=None, allow_int8=True, tensorrt=None)
    assert TENSORRT not in _names(offered)


def test_tensorrt_without_its_libraries_says_what_is_missing(tmp_path: Path) -> None:
    """This machine's onnxruntime-gpu lists the TensorRT provider but has no libnvinfer:
    the tuner is told why, and opening it fails with that reason instead of falling back."""
    from engine.errors import ModelLoadError
    from engine.runtime.backends.tensorrt import tensorrt_backend, tensorrt_problem

    problem = tensorrt_problem()
    if problem is None:
        pytest.skip("TensorRT is installed here")
    assert "TensorRT" in problem
    with pytest.raises(ModelLoadError, match="TensorRT cannot be used"):
        tensorrt_backend(tmp_path / "model.onnx", device_id=0, engine_cache=tmp_path / "trt")


def test_a_refused_candidate_is_never_chosen_however_fast() -> None:
    trials = [
        Trial(REFERENCE, 10.0, None),
        Trial(BASELINE, 20.0, None),
        Trial("onnxruntime int8", 90.0, None, "refused: top-1 agreement is 96.9%"),
    ]
    assert choose(trials)[0] == BASELINE
    faster = [*trials[:2], Trial("torch bf16", 36.0, None)]
    winner, reason = choose(faster)
    assert winner == "torch bf16" and "1.80x" in reason
    assert choose([*trials[:2], Trial("torch bf16", 21.0, None)])[0] == BASELINE  # noise
    assert choose([Trial(REFERENCE, 10.0, None), Trial("torch bf16", 30.0, None)])[0] == (
        "torch bf16"
    )


def test_tuning_verifies_every_candidate_and_uses_only_a_verified_one(
    tiny_model_file: Path,
) -> None:
    """bf16 is offered by giving the tuner an AMX machine's flags; on a CPU without them
    PyTorch still runs bf16 autocast (emulated), so it is measured and verified for real."""
    machine = replace(this_machine(), flags=AMX)
    classifier, tuning = load_tuned(tiny_model_file, machine=machine, allow_int8=True)
    names = [t.name for t in tuning.trials]
    assert names == [REFERENCE, BASELINE, "torch bf16", "onnxruntime int8"]
    assert all(t.images_per_s > 0 for t in tuning.trials)
    for t in tuning.trials[1:]:
        assert t.parity is not None and t.parity.images == 32
        within = t.parity.top1_agreement >= 0.995 and t.parity.max_prob_diff <= 0.05
        assert t.verified == within, t
    winner = next(t for t in tuning.trials if t.name == tuning.winner)
    assert winner.verified
    assert f"{classifier.backend.name} {classifier.backend.precision}" == tuning.winner
    table = tuning.table()
    assert "USED" in table and f"used: {tuning.winner}" in table
    assert Tuning.from_json(tuning.to_json()) == tuning


def test_an_impossible_tolerance_refuses_all_but_the_reference(tiny_model_file: Path) -> None:
    from engine.inference import tuned

    found = cached_model(tiny_model_file)
    build = lambda: load_classifier(tiny_model_file, device="cpu")  # noqa: E731
    strict = Tolerance(max_prob_diff=0.0, min_top1_agreement=1.0)
    machine = replace(this_machine(), flags=AVX2)
    tuning = tuned.tune(
        found, build, device="cpu", machine=machine, allow_int8=False, tolerance=strict
    )
    refused = [t for t in tuning.trials if not t.verified]
    assert {t.name for t in refused} == {BASELINE}
    assert all("probabilities differ by up to" in t.refused for t in refused)
    assert tuning.winner == REFERENCE


def test_the_tuning_is_cached_reused_and_redone_on_another_machine(
    tiny_model_file: Path,
) -> None:
    first, tuning = load_tuned(tiny_model_file)
    path = tuning_path(cached_model(tiny_model_file), "cpu", allow_int8=False)
    stamp = path.stat().st_mtime_ns
    second, again = load_tuned(tiny_model_file)
    assert again == tuning and path.stat().st_mtime_ns == stamp
    assert second.describe() == first.describe()
    moved = Machine("another CPU", AVX2, 8)
    assert read_tuning(path, moved) is None
    _, retuned = load_tuned(tiny_model_file, machine=moved)
    assert retuned.machine_key == moved.key() != tuning.machine_key
    assert read_tuning(path, moved) == retuned


def test_a_cached_winner_that_no_longer_opens_is_tuned_again(tiny_model_file: Path) -> None:
    """The tuning said TensorRT (on a machine that had it); its libraries are gone now: the
    model loads on a backend tuned again rather than failing."""
    _, tuning = load_tuned(tiny_model_file)
    path = tuning_path(cached_model(tiny_model_file), "cpu", allow_int8=False)
    path.write_text(replace(tuning, winner=TENSORRT).to_json())
    classifier, retuned = load_tuned(tiny_model_file)
    assert retuned.winner != TENSORRT and read_tuning(path, this_machine()) == retuned
    assert classifier.predict([photo(64, 64)], top_k=1)[0].label in classifier.class_names


def test_auto_backend_is_the_tuned_one(tiny_model_file: Path) -> None:
    classifier = load_classifier(tiny_model_file, device="cpu", backend="auto")
    _, tuning = load_tuned(tiny_model_file)
    assert f"{classifier.backend.name} {classifier.backend.precision}" == tuning.winner
    assert tuning.winner in classifier.describe()
    image = photo(90, 70, seed=3)
    reference = load_classifier(tiny_model_file, device="cpu").predict([image])[0]
    assert classifier.predict([image])[0].index == reference.index


def test_without_onnx_runtime_auto_falls_back_to_torch_with_one_note(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from engine.inference.loader import load_classifier\n"
        f"c = load_classifier({str(tiny_model_file)!r}, device='cpu', backend='auto')\n"
        "print('BACKEND', c.backend.name)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {"RESLENS_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "BACKEND torch" in done.stdout
    notes = [line for line in done.stderr.splitlines() if "ONNX Runtime cannot be imported" in line]
    assert len(notes) == 1 and "using PyTorch instead" in notes[0]


def test_asking_for_onnx_without_onnx_runtime_says_so() -> None:
    from engine.errors import ModelLoadError
    from engine.inference.loader import choose_backend

    with pytest.raises(ModelLoadError, match=r"cannot be imported.*--backend torch"):
        choose_backend("onnx", weights=None, onnxruntime="ONNX Runtime cannot be imported (x)")
    assert choose_backend("auto", weights="none", onnxruntime=None) == "torch"
    assert choose_backend("auto", weights=None, onnxruntime=None) == "tuned"


def test_doctor_prints_the_table_for_this_machine(
    tiny_model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli import main

    assert main(["doctor", "--model", str(tiny_model_file), "--device", "cpu", "--fast"]) == 0
    out = capsys.readouterr().out
    assert this_machine().describe() in out
    assert "tiny.reslens on cpu" in out
    for name in (REFERENCE, BASELINE, "onnxruntime int8"):
        assert name in out
    assert "USED" in out and "used: " in out
    _, tuning = load_tuned(tiny_model_file, allow_int8=True)
    assert f"used: {tuning.winner} ({tuning.reason})" in out
