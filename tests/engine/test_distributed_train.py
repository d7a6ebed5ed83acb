"""`reslens train` under torchrun: two real CPU processes (gloo) train one model together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import EngineError
from engine.models.model_file import read_model_info
from engine.training.data import epoch_order
from engine.training.distributed import World, for_world, lr_scale, world_from_env
from engine.training.records import TrainConfig
from engine.training.state import state_path
from tests.engine.labeled_folders import make_labeled_folder

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--image-size", "32", "--batch-size", "16", "--from-scratch", "--no-report"]


def torchrun(data: Path, out: Path, *args: str, home: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TORCH_HOME": str(home / "torch"),
        "RESLENS_CACHE_DIR": str(home / "cache"),
        "OMP_NUM_THREADS": "1",  # two processes on two cores
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "engine.cli", "train", str(data), "--out", str(out), *FAST, *args]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_labeled_folder(tmp_path_factory.mktemp("ddp") / "data", per_class=20, size=36)


def training(path: Path) -> dict:
    return read_model_info(path).extra["training"]


def val_accuracy(path: Path) -> float:
    return read_model_info(path).extra["metrics"]["val"]["accuracy"]


def test_two_processes_write_one_model_that_learns_like_one_process(
    data: Path, tmp_path: Path
) -> None:
    from engine.cli import main

    out = tmp_path / "runs" / "ddp.reslens"
    launcher = torchrun(data, out, "--epochs", "3", home=tmp_path)
    _, errors = launcher.communicate(timeout=400)
    assert launcher.returncode == 0, errors[-3000:]
    written = sorted(p.name for p in out.parent.iterdir())
    assert written == ["ddp.reslens", "ddp.split.csv"]  # one model and its split; no state, no temp
    assert training(out)["config"]["world_size"] == 2
    assert errors.count("epoch 1/3") == 1  # rank 0 alone prints
    # One process with the same global batch (2 x 16) takes the same optimizer steps.
    single = tmp_path / "single.reslens"
    args = ["train", str(data), "--out", str(single), "--epochs", "3", *FAST, "--batch-size", "32"]
    assert main(args) == 0
    assert training(single)["config"]["world_size"] == 1
    assert val_accuracy(out) >= 0.6  # chance is 1/3; 12 validation images
    assert abs(val_accuracy(out) - val_accuracy(single)) <= 0.25


def test_ctrl_c_to_the_launcher_keeps_the_best_model_so_far(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp.reslens"
    launcher = torchrun(data, out, "--epochs", "30", "--patience", "0", home=tmp_path)
    assert launcher.stderr is not None
    for line in launcher.stderr:
        if line.startswith("epoch 1/30"):
            break
    else:
        pytest.fail(f"training ended before its first epoch (exit {launcher.wait()})")
    launcher.send_signal(signal.SIGINT)
    started = time.monotonic()
    rest = launcher.communicate(timeout=120)[1]
    assert time.monotonic() - started < 60, rest[-2000:]
    assert "stopping after this step" in rest
    assert training(out)["stopped"] == "cancelled"
    assert training(out)["best_epoch"] >= 1
    assert training(out)["config"]["world_size"] == 2
    assert state_path(out).is_file()  # --resume continues from here


def test_shards_cover_the_balanced_order_in_equal_parts() -> None:
    labels = np.asarray([0] * 3000 + [1] * 500 + [2] * 601, dtype=np.int64)  # 6:1:1.2
    order = epoch_order(labels, seed=3, epoch=1, balanced=True)
    shards = [World(rank, 3, rank).shard(order) for rank in range(3)]
    assert {len(s) for s in shards} == {1367}  # 4101 = 3 x 1367: no padding needed
    merged = np.stack(shards, axis=1).reshape(-1)[: len(order)]
    assert np.array_equal(merged, order)  # every rank's part of the same draw, nothing lost
    for shard in shards:  # the sampler's class balance holds on every rank
        share = np.bincount(labels[shard], minlength=3) / len(shard)
        assert share.min() > 0.29 and share.max() < 0.38, share
    odd = [World(rank, 2, rank).shard(order[:7]) for rank in range(2)]
    assert [len(s) for s in odd] == [4, 4]  # padded with the first entry, as DistributedSampler
    assert World().shard(order) is order


def test_learning_rate_scales_with_the_global_batch_and_resume_keeps_the_world() -> None:
    assert lr_scale("sgd", 4) == 4.0 and lr_scale("adamw", 4) == 2.0
    config = TrainConfig(optimizer="sgd", lr=0.01)
    scaled = for_world(config, World(0, 4, 0), resumed=False)
    assert scaled.world_size == 4 and scaled.base_lr == pytest.approx(0.04)
    assert TrainConfig.from_dict(scaled.to_dict()).base_lr == pytest.approx(0.04)
    with pytest.raises(EngineError, match="resume it with the same number"):
        for_world(scaled, World(0, 2, 0), resumed=True)
    assert world_from_env({}) == World()
    assert world_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == World(1, 2, 1)
