"""The pieces of a fine-tuning run, as plain functions in the style of torchvision's reference
training script: starting weights, network, optimizer, learning-rate schedule, loss, training
phases, one epoch (:func:`train_one_epoch`) and evaluation (:func:`evaluate`).

A leaf module: :func:`engine.training.run.train` assembles these into the whole job, and other
loops (distributed, distillation) can assemble them differently.

Recipe: ImageNet weights when available, a new head for the user's classes, a head-only
warm-up epoch, then the whole network with lower learning rates for the pretrained layers;
AdamW (or SGD with Nesterov momentum) with linear warm-up and cosine decay (torch's
``LambdaLR`` over per-group base rates); label smoothing; class-weighted loss (or a
class-balanced sampler); bf16 autocast on CPUs that have it, mixed precision on CUDA.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from engine.errors import EngineError, WeightsNotFoundError
from engine.imaging.preprocess import PreprocessSpec
from engine.jobs import CancelToken
from engine.models.registry import build_model, get_architecture, replace_head
from engine.models.weights import DownloadProgress, load_pretrained_into, resolve_weights
from engine.runtime.precision import Precision, precision_for_this_machine
from engine.training.data import Batch
from engine.training.metrics import nll
from engine.training.records import EpochRecord, SelectBy, TrainConfig, TrainProgress

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

ProgressCallback = Callable[[TrainProgress], None]
StepCallback = Callable[[int, float, int, int], None]
"""Called after each step with (step, summed loss, correct predictions, images seen) so far."""


@dataclass(frozen=True)
class StartingPoint:
    """The weights training starts from, and a sentence saying so."""

    pretrained: bool
    weights: Path | None
    note: str


def resolve_start(
    config: TrainConfig,
    *,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> StartingPoint:
    """Find ImageNet weights for ``config.arch`` as ``config.pretrained`` asks.

    Raises :class:`WeightsNotFoundError` (naming the file to fetch) only when pretrained
    weights were explicitly requested; otherwise falls back to training from scratch.
    """
    name = get_architecture(config.arch).display_name
    if config.pretrained is False:
        return StartingPoint(False, None, f"{name} trains from scratch (random initial weights).")
    try:
        source = resolve_weights(
            config.arch,
            user_file=config.weights_file,
            allow_download=config.allow_download,
            progress=progress,
            cancel=cancel,
        )
    except WeightsNotFoundError as exc:
        if config.pretrained:
            raise
        return StartingPoint(
            False,
            None,
            f"ImageNet weights for {name} are not available, so it trains from scratch, which "
            f"needs more images and epochs. {exc}",
        )
    return StartingPoint(
        True, source.path, f"{name} starts from ImageNet weights ({source.origin}: {source.path})."
    )


def preprocess_for(config: TrainConfig, start: StartingPoint) -> PreprocessSpec:
    """The pretrained weights' own preprocessing at their input size, else the ImageNet
    convention scaled to ``config.image_size``."""
    from engine.models.registry import pretrained_preprocess

    if start.pretrained:
        spec = pretrained_preprocess(config.arch)
        if spec.crop == config.image_size:
            return spec
    return PreprocessSpec.for_crop(config.image_size)


def build_network(arch: str, num_classes: int, start: StartingPoint, seed: int) -> nn.Module:
    """The network to train: pretrained body + new head, or fresh; initialised from ``seed``
    without disturbing torch's global random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if start.pretrained and start.weights is not None:
            network = build_model(arch)
            load_pretrained_into(network, arch, start.weights)
            replace_head(network, arch, num_classes)
        else:
            network = build_model(arch, num_classes=num_classes)
    return network


def param_groups(
    model: nn.Module, arch: str, config: TrainConfig, pretrained: bool
) -> list[dict[str, Any]]:
    """Optimizer groups: head, last stage and the rest of the body, each with an ``lr_mult``
    (1 for everything when training from scratch); no weight decay on norms and biases."""
    spec = get_architecture(arch)
    factor = config.backbone_lr_factor if pretrained else 1.0
    mults = {"head": 1.0, "last": math.sqrt(factor), "body": factor}
    groups: dict[tuple[str, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        part = (
            "head"
            if name.startswith(spec.classifier + ".")
            else "last"
            if name.startswith(spec.cam_layer + ".")
            else "body"
        )
        decay = param.ndim > 1
        group = groups.setdefault(
            (part, decay),
            {
                "params": [],
                "name": part if decay else f"{part} (no decay)",
                "lr_mult": mults[part],
                "weight_decay": config.weight_decay if decay else 0.0,
            },
        )
        group["params"].append(param)
    return list(groups.values())


def make_optimizer(groups: list[dict[str, Any]], config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (or SGD with Nesterov momentum) over ``groups``; each group's base rate
    (``initial_lr``, which the schedule scales) is ``config.base_lr * lr_mult``."""
    import torch

    for group in groups:
        group["lr"] = group["initial_lr"] = config.base_lr * group["lr_mult"]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.base_lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.base_lr)


def make_criterion(
    train_labels: Sequence[int], num_classes: int, config: TrainConfig, device: str
) -> nn.Module:
    """Cross-entropy with label smoothing; class weights N / (K * n_k) when balancing by loss."""
    import torch

    weights = None
    if config.balance == "loss":
        counts = np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=num_classes)
        share = len(train_labels) / (num_classes * counts)
        weights = torch.tensor(share, dtype=torch.float32, device=device)
    return torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)


def set_phase(model: nn.Module, arch: str, *, head_only: bool) -> None:
    """Train the whole network, or only its head with the body frozen (batch-norm statistics
    included, so a pretrained body is left exactly as it was)."""
    head = get_architecture(arch).classifier + "."
    for name, param in model.named_parameters():
        param.requires_grad_(not head_only or name.startswith(head))
    model.train()
    if head_only:
        model.eval()
        getattr(model, get_architecture(arch).classifier).train()


class Inputs:
    """uint8 (N, H, W, 3) pixels -> normalised float32 (N, 3, H, W) channels-last tensor on
    ``device``, with exactly the arithmetic of :meth:`PreprocessSpec.to_array`."""

    def __init__(self, spec: PreprocessSpec, device: str) -> None:
        import torch

        self.device = torch.device(device)
        shape = (1, 3, 1, 1)
        scale = np.asarray(spec.std, dtype=np.float32) * 255.0
        offset = np.asarray(spec.mean, dtype=np.float32) * 255.0
        self._scale = torch.from_numpy(scale).reshape(shape).to(self.device)
        self._offset = torch.from_numpy(offset).reshape(shape).to(self.device)

    def __call__(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        pixels = torch.from_numpy(batch.pixels).to(self.device, non_blocking=True)
        # NHWC memory viewed as NCHW is the channels-last layout oneDNN and cuDNN prefer.
        x = (pixels.permute(0, 3, 1, 2).float() - self._offset) / self._scale
        return x, torch.from_numpy(batch.labels).to(self.device, non_blocking=True)


class Amp:
    """Autocast where the hardware has it (:mod:`engine.runtime.precision`): bf16 on a CPU
    with AMX-BF16/AVX512-BF16, bf16 on CUDA where supported, else fp16 with loss scaling;
    fp32 otherwise or when ``reduced`` is False. Losses and metrics stay fp32."""

    def __init__(
        self, device: str, *, reduced: bool = True, precision: Precision | None = None
    ) -> None:
        import torch

        kind = "cuda" if device.startswith("cuda") else "cpu"
        self.precision = precision or precision_for_this_machine(kind, opt_out=not reduced)
        self.enabled = self.precision.dtype is not None
        self.dtype = getattr(torch, self.precision.dtype or "float32")
        self.scaler = torch.amp.GradScaler("cuda") if self.precision.needs_grad_scaler else None

    def autocast(self) -> Any:
        import torch

        return torch.autocast(self.precision.device_type, dtype=self.dtype, enabled=self.enabled)


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Batch],
    *,
    inputs: Inputs,
    amp: Amp,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    on_step: StepCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[float, int, int]:
    """One pass over ``batches``; returns (summed loss, correct predictions, images seen).

    ``scheduler`` steps after every optimizer step; ``cancel`` is checked before every step,
    so a cancelled epoch stops between steps and never mid-update.
    """
    loss_sum, correct, seen = 0.0, 0, 0
    for step, batch in enumerate(batches, 1):
        if cancel is not None:
            cancel.raise_if_cancelled("Training")
        x, y = inputs(batch)
        with amp.autocast():
            logits = model(x)
            loss = criterion(logits.float(), y)
        if not math.isfinite(loss.item()):
            raise EngineError(
                "Training diverged (the loss became infinite or NaN). Try a lower learning rate."
            )
        optimizer.zero_grad(set_to_none=True)
        if amp.scaler is not None:
            amp.scaler.scale(loss).backward()
            amp.scaler.step(optimizer)
            amp.scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        if on_step is not None:
            on_step(step, loss_sum, correct, seen)
    return loss_sum, correct, seen


@dataclass(frozen=True)
class Evaluation:
    """A model's logits float32 (N, K) on labelled samples, their labels int64 (N,) and their
    positions int64 (N,) in the sample tuple evaluated (unreadable samples left out)."""

    logits: np.ndarray
    labels: np.ndarray
    indices: np.ndarray


def evaluate(model: nn.Module, batches: Iterable[Batch], *, inputs: Inputs, amp: Amp) -> Evaluation:
    """The model's logits, labels and sample indices for ``batches``, in inference mode."""
    import torch

    model.eval()
    logits, labels, indices = [], [], []
    with torch.inference_mode(), amp.autocast():
        for batch in batches:
            x, _ = inputs(batch)
            logits.append(model(x).float().cpu().numpy())
            labels.append(batch.labels)
            indices.append(batch.indices)
    if not logits:
        return Evaluation(
            np.empty((0, 0), np.float32), np.empty(0, np.int64), np.empty(0, np.int64)
        )
    return Evaluation(np.concatenate(logits), np.concatenate(labels), np.concatenate(indices))


def selection_key(record: EpochRecord, select_by: SelectBy) -> tuple[float, float]:
    """How good an epoch is by ``select_by``, as a pair where bigger is better: (accuracy,
    -loss) for the accuracies, so ties go to the lower loss; (-loss, 0) for the loss."""
    loss = record.val_loss
    if select_by == "loss":
        return (-loss, 0.0)
    figure = record.val_accuracy if select_by == "accuracy" else record.val_balanced_accuracy
    return (figure, -loss)


def improves(key: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """Whether ``key`` beats ``best`` (None: nothing yet) by more than 1e-6 in its first
    figure, or ties there and beats it so in the second."""
    if best is None:
        return True
    if abs(key[0] - best[0]) > 1e-6:
        return key[0] > best[0]
    return key[1] > best[1] + 1e-6


def head_lr(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR
) -> float:
    """The learning rate of the last step taken, as the base rate times the schedule (the
    first group's rate divided by its multiplier)."""
    first = optimizer.param_groups[0]
    return (
        first["initial_lr"] * scheduler.lr_lambdas[0](scheduler.last_epoch - 1) / first["lr_mult"]
    )


def epoch_record(
    epoch: int,
    phase: Literal["head", "full"],
    *,
    train: tuple[float, int, int],
    val: Evaluation,
    lr: float,
    seconds: float,
    images_per_s: float,
) -> EpochRecord:
    """A finished epoch's figures: ``train`` is (summed loss, correct, images seen) of its
    steps; validation figures from ``val`` (NaN without validation images). ``improved`` is
    left False for the caller to judge."""
    loss_sum, correct, seen = train
    labels = val.labels
    if len(labels):
        predicted = val.logits.argmax(axis=1)
        recalls = [np.mean(predicted[labels == k] == k) for k in np.unique(labels)]
        val_loss, accuracy = nll(val.logits, labels), float(np.mean(predicted == labels))
        balanced = float(np.mean(recalls))
    else:
        val_loss = accuracy = balanced = math.nan
    return EpochRecord(
        epoch=epoch, phase=phase, train_loss=loss_sum / max(seen, 1),
        train_accuracy=correct / max(seen, 1), val_loss=val_loss, val_accuracy=accuracy,
        val_balanced_accuracy=balanced, lr=lr, seconds=seconds, images_per_s=images_per_s,
        improved=False,
    )  # fmt: skip
