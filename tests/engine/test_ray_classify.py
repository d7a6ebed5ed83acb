"""Classification on real Ray Data (a local 2-CPU instance shared by this module) gives the
local path's rows, survives a dead actor, and stays out of the engine's imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import Cancelled, ModelLoadError
from engine.imaging.walk import find_images
from engine.inference.batch import FileResult, classify_files
from engine.inference.loader import load_classifier
from engine.jobs import CancelToken, Progress
from engine.scale.ray_classify import plan_pool
from tests.conftest import photo

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One empty ResLens cache and torch home (never the user's) for this module's driver and
    Ray workers alike, so the tiny model is exported to ONNX once, not once per process."""
    base = tmp_path_factory.mktemp("ray_cache")
    env = {"RESLENS_CACHE_DIR": str(base / "cache"), "TORCH_HOME": str(base / "torch")}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    yield env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def ray_cluster(
    tmp_path_factory: pytest.TempPathFactory, module_cache: dict[str, str]
) -> Iterator[Path]:
    """One local Ray (2 CPUs) for the module. Workers get the module's cache and the test kill
    switch's marker path; a test arms the switch by creating the file."""
    from engine.scale.ray_stages import KILL_SWITCH_ENV

    marker = tmp_path_factory.mktemp("ray") / "kill-once"
    env = {**module_cache, KILL_SWITCH_ENV: str(marker)}
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env})
    yield marker
    ray.shutdown()


@pytest.fixture(autouse=True)
def same_cache_as_workers(module_cache: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in module_cache.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """14 photos of assorted sizes (two in a subfolder), a broken JPEG and a text file."""
    root = tmp_path_factory.mktemp("archive")
    (root / "sub").mkdir()
    for i in range(12):
        photo(96 + 8 * i, 80, seed=i).save(root / f"p{i:02d}.jpg", quality=90)
    photo(70, 120, seed=20).save(root / "sub" / "tall.png")
    photo(64, 64, seed=21).save(root / "sub" / "small.jpg")
    (root / "p05_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def local_rows(
    folder: Path, tiny_model_file: Path, module_cache: dict[str, str]
) -> list[FileResult]:
    classifier = load_classifier(tiny_model_file, device="cpu", backend="auto")
    images, _ = find_images([folder])
    return list(classify_files(classifier, images, top_k=3, batch_size=4))


def on_ray(paths: list[Path], model: Path, **options: object) -> Iterator[FileResult]:
    from engine.scale.ray_classify import classify_on_ray

    settings: dict = {"weights": None, "device": "cpu", "backend": "auto", "top_k": 3}
    settings |= {"batch_size": 4, "address": None, **options}
    return classify_on_ray(paths, model=str(model), **settings)


def assert_same_rows(rows: list[FileResult], expected: list[FileResult]) -> None:
    assert [r.path for r in rows] == [r.path for r in expected]
    for got, want in zip(rows, expected, strict=True):
        assert got.error == want.error, got.path
        if want.prediction is None:
            assert got.prediction is None
            continue
        assert got.prediction is not None
        assert got.prediction.indices == want.prediction.indices, got.path
        assert got.prediction.labels == want.prediction.labels
        assert got.prediction.probs == pytest.approx(want.prediction.probs, abs=1e-4)


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_cli_engine_ray_writes_what_the_local_engine_writes(
    folder: Path, tiny_model_file: Path, module_cache: dict[str, str], tmp_path: Path
) -> None:
    """The whole command, as a user runs it: its own local Ray, started and stopped. Runs
    before the module's shared Ray session exists (tests run in file order)."""
    from engine.cli import main

    common = [str(folder), "--model", str(tiny_model_file), "--top-k", "3", "--batch-size", "4"]
    local = tmp_path / "local.jsonl"
    assert main(["classify", *common, "--out", str(local)]) == 1  # one broken file
    on_ray = tmp_path / "ray.jsonl"
    env = {**os.environ, **module_cache, "PYTHONPATH": str(ROOT), "RAY_ADDRESS": ""}
    cmd = [sys.executable, "-m", "engine.cli", "classify", *common, "--engine", "ray"]
    done = subprocess.run(
        [*cmd, "--out", str(on_ray)], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    assert not ray.is_initialized()
    want, got = read_rows(local), read_rows(on_ray)
    assert [r["path"] for r in got] == [r["path"] for r in want]
    for row, expected in zip(got, want, strict=True):
        assert row.get("error") == expected.get("error"), row["path"]
        if "predictions" in expected:
            labels = [p["label"] for p in row["predictions"]]
            assert labels == [p["label"] for p in expected["predictions"]], row["path"]
            probs = [p["prob"] for p in row["predictions"]]
            assert probs == pytest.approx([p["prob"] for p in expected["predictions"]], abs=1e-4)
        assert row["model"] == expected["model"]  # so --resume may mix the engines
    assert [Path(r["path"]).name for r in got if "error" in r] == ["p05_broken.jpg"]


def test_rows_equal_the_local_path_in_input_order(
    ray_cluster: Path, folder: Path, tiny_model_file: Path, local_rows: list[FileResult]
) -> None:
    images, _ = find_images([folder])
    progress: list[Progress] = []
    rows = list(on_ray(images, tiny_model_file, on_progress=progress.append))
    assert_same_rows(rows, local_rows)
    broken = [r for r in rows if not r.ok]
    assert [r.path.name for r in broken] == ["p05_broken.jpg"]
    assert broken[0].error
    assert progress[-1].done == len(images) and progress[-1].failed == 1


def test_a_dead_actor_still_yields_every_row_exactly_once(
    ray_cluster: Path, folder: Path, tiny_model_file: Path, local_rows: list[FileResult]
) -> None:
    ray_cluster.write_text("armed")
    images, _ = find_images([folder])
    rows = list(on_ray(images, tiny_model_file))
    assert not ray_cluster.exists(), "no actor took the kill switch: nothing was tested"
    assert_same_rows(rows, local_rows)


def test_cancel_stops_at_the_next_batch(
    ray_cluster: Path, folder: Path, tiny_model_file: Path
) -> None:
    images, _ = find_images([folder])
    token = CancelToken()
    seen = 0
    with pytest.raises(Cancelled):
        for _ in on_ray(images, tiny_model_file, cancel=token):
            seen += 1
            token.cancel()
    assert seen == 4  # the first batch is delivered, nothing after it


def test_pool_plan_uses_every_gpu_or_half_the_cpus() -> None:
    gpu = plan_pool({"CPU": 16.0, "GPU": 2.0}, "auto")
    assert (gpu.actors, gpu.gpus_per_actor, gpu.device) == (2, 1, "cuda")
    cpu = plan_pool({"CPU": 16.0, "GPU": 2.0}, "cpu")
    assert (cpu.actors, cpu.gpus_per_actor, cpu.device) == (8, 0, "cpu")
    assert plan_pool({"CPU": 2.0}, "auto").actors == 1
    with pytest.raises(ModelLoadError, match="no GPUs"):
        plan_pool({"CPU": 2.0}, "cuda")


def test_the_engine_does_not_import_ray_and_says_what_to_install() -> None:
    code = (
        "import sys, engine, engine.cli, engine.scale.ray_classify;"
        "assert 'ray' not in sys.modules, 'ray imported';"
        "sys.modules['ray'] = None;"
        "from engine.scale.ray_classify import import_ray, RayUnavailableError\n"
        "try:\n    import_ray()\nexcept RayUnavailableError as e:\n    print(e)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'reslens[cluster]'" in done.stdout
