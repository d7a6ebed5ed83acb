"""Everything a training loop needs before its first step: the data set and its split, and the
network with its optimizer, loss and input pipeline. Public pieces for :mod:`engine.training.run`
and for other loops (distributed, distillation) to reuse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import DatasetError
from engine.imaging.preprocess import PreprocessSpec
from engine.jobs import CancelToken, Progress
from engine.training.health import assess
from engine.training.metrics import default_positive
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
    """Scan ``data`` (unless it is a scan already), group it by ``config.group_by``, refuse an
    unusable set, and split it as ``config`` says. Raises :class:`DatasetError` with what to
    fix."""

    def report(progress: Progress) -> None:
        if on_progress is not None:
            on_progress(progress.done, progress.total or 0)

    if isinstance(data, DatasetScan):
        scan = data if data.group_by == config.group_by else data.regroup(config.group_by)
    else:
        scan = scan_dataset(data, cancel=cancel, on_progress=report, group_by=config.group_by)
    assess(scan).raise_if_unusable()
    positive_index(config, scan)  # a wrong --positive fails before any training
    c = config
    split = split_dataset(
        scan, val_fraction=c.val_fraction, test_fraction=c.test_fraction, seed=c.seed
    )
    return scan, split


def positive_index(config: TrainConfig, scan: DatasetScan) -> int | None:
    """The positive class of a two-class set: ``config.positive``, else asked of the data
    (:func:`default_positive`); None for more classes. :class:`DatasetError` for a wrong name."""
    names = scan.class_names
    if config.positive is not None:
        if len(names) != 2:
            raise DatasetError(
                f"--positive applies to two-class data sets; this one has {len(names)} classes."
            )
        if config.positive not in names:
            raise DatasetError(
                f"--positive {config.positive!r} is not a class here; the classes are "
                f"{', '.join(repr(n) for n in names)}."
            )
        return names.index(config.positive)
    if len(names) != 2:
        return None
    return default_positive(names, list(scan.counts().values()))


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
    return TrainingParts(
        model,
        optimizer,
        criterion,
        Inputs(spec, device),
        Amp(device, reduced=c.reduced_precision),
        device,
    )
