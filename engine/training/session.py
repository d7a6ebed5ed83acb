"""Training as an app runs it: scanning and training as tasks for a worker thread.

Task functions take an :class:`engine.jobs.TaskContext` (the app's task runner is one) and
hand back frozen data. Training is stopped with the caller's own :class:`CancelToken` rather
than the runner's, so that a cancelled training still returns its :class:`TrainResult` (the
best model so far is saved and can be used).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.jobs import CancelToken, TaskContext
from engine.training.health import HealthReport, assess
from engine.training.scan import DatasetScan, scan_dataset

if TYPE_CHECKING:
    from engine.training.records import TrainConfig, TrainProgress, TrainResult

REPORT_INTERVAL_S = 0.1
"""Step progress reaches the window at most this often; epoch ends always do."""


@dataclass(frozen=True)
class ScanDone:
    scan: DatasetScan
    health: HealthReport


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int


def scan_task(folder: Path) -> Callable[[TaskContext], ScanDone]:
    def run(ctx: TaskContext) -> ScanDone:
        def report(progress: object) -> None:
            ctx.report(ScanProgress(progress.done, progress.total or 0))  # type: ignore[attr-defined]

        scan = scan_dataset(folder, cancel=ctx.cancel, on_progress=report)
        return ScanDone(scan, assess(scan))

    return run


def train_task(
    data: DatasetScan | Path,
    out: Path,
    config: TrainConfig,
    *,
    resume: bool,
    cancel: CancelToken,
) -> Callable[[TaskContext], TrainResult]:
    """Train with ``cancel`` as the stop signal; progress is thinned to a few reports a second."""
    from engine.training.run import train

    def run(ctx: TaskContext) -> TrainResult:
        last = [0.0]

        def report(progress: TrainProgress) -> None:
            now = time.monotonic()
            if progress.phase in ("training", "preparing") and now - last[0] < REPORT_INTERVAL_S:
                return
            last[0] = now
            ctx.report(progress)

        return train(data, out, config, resume=resume, cancel=cancel, on_progress=report)

    return run
