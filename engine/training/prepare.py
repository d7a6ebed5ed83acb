"""Everything a training loop needs before its first step: the data set and its split, and the
network with its optimizer, loss and input pipeline. Public pieces for :mod:`engine.training.run`
and for other loops (distributed, distillation) to reuse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.imaging.preprocess import PreprocessSpec
from engine.jobs import CancelToken
from engine.training.health import assess
from engine.training.recipe import (
    Amp,
    Inputs,
    StartingPoint,
    build_network,
    make_criterion,
    make_optimizer,
    param_groups,
)
from engine.training.records import TrainConfig
from engine.training.scan import DatasetScan, scan_dataset
from engine.training.splits import DataSplit, split_dataset

if TYPE_CHECKING:
    import torch
    from torch import nn

CountCallback = Callable[[int, int], None]
"""Called with (done, total) while preparing."""


def prepare_data(
    data: str | Path | DatasetScan,
    config: TrainConfig,
    *,
    cancel: CancelToken | None = None,
    on_progress: CountCallback | None = None,
) -> tuple[DatasetScan, DataSplit]:
    """Scan ``data`` (unless it is a scan already), refuse an unusable set, and split it as
    ``config`` says. Raises :class:`DatasetError` with what to fix."""
    if isinstance(data, DatasetScan):
        scan = data
    else:
        scan = scan_dataset(
            data,
            cancel=cancel,
            on_progress=None
            if on_progress is None
            else lambda p: on_progress(p.done, p.total or 0),
        )
    assess(scan).raise_if_unusable()
    c = config
    split = split_dataset(
        scan, val_fraction=c.val_fraction, test_fraction=c.test_fraction, seed=c.seed
    )
    return scan, split


@dataclass
class TrainingParts:
    """The network on its device (channels-last), its optimizer, loss, and the input and
    mixed-precision helpers of one run."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    inputs: Inputs
    amp: Amp
    device: str


def build_parts(
    config: TrainConfig,
    *,
    num_classes: int,
    train_labels: list[int],
    start: StartingPoint,
    spec: PreprocessSpec,
) -> TrainingParts:
    """Build the network from ``start`` (seeded by ``config.seed``), its optimizer with
    per-group learning rates, and the (class-weighted) loss for ``train_labels``."""
    import torch

    from engine.runtime.backends.torch_backend import resolve_device

    c, device = config, resolve_device(config.device)
    model = build_network(c.arch, num_classes, start, c.seed)
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(param_groups(model, c.arch, c, start.pretrained), c)
    criterion = make_criterion(train_labels, num_classes, c, device)
    return TrainingParts(model, optimizer, criterion, Inputs(spec, device), Amp(device), device)
