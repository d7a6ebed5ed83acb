"""Fine-tune a residual network on a labelled folder, in the style of torchvision's reference
training script: plain functions (:func:`train_one_epoch`, :func:`evaluate`) and one
:func:`train` that runs the whole job.

>>> result = train("data/", "model.reslens", TrainConfig(epochs=5, image_size=128))  # doctest: +SKIP
>>> print(result.summary())                                                            # doctest: +SKIP

Recipe: ImageNet weights when available, a new head for the user's classes, a head-only
warm-up epoch, then the whole network with lower learning rates for the pretrained layers;
AdamW (or SGD with Nesterov momentum) with linear warm-up and cosine decay; label smoothing;
class-weighted loss (or a class-balanced sampler); mixed precision on CUDA; early stopping on
validation loss, keeping the best epoch's weights. On the CPU a given seed gives the same
model every time, and a resumed run the same model as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import EngineError, WeightsNotFoundError
from engine.imaging.preprocess import PreprocessSpec
from engine.jobs import CancelToken
from engine.models.registry import build_model, get_architecture, replace_head
from engine.models.weights import DownloadProgress, load_pretrained_into, resolve_weights
from engine.training.data import Batch
from engine.training.records import TrainConfig, TrainProgress, TrainResult
from engine.training.scan import DatasetScan

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
    import torch

    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.base_lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.base_lr)


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 1 % at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))


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
    """Mixed precision on CUDA (bfloat16 where supported, else float16 with loss scaling);
    a no-op on the CPU."""

    def __init__(self, device: str) -> None:
        import torch

        self.enabled = device.startswith("cuda")
        bf16 = self.enabled and torch.cuda.is_bf16_supported()
        self.dtype = torch.bfloat16 if bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if self.enabled and not bf16 else None

    def autocast(self) -> Any:
        import torch

        return torch.autocast("cuda", dtype=self.dtype, enabled=self.enabled)


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Batch],
    *,
    inputs: Inputs,
    amp: Amp,
    before_step: Callable[[], None],
    on_step: StepCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[float, int, int]:
    """One pass over ``batches``; returns (summed loss, correct predictions, images seen).

    ``before_step`` sets the learning rate; ``cancel`` is checked before every step, so a
    cancelled epoch stops between steps and never mid-update.
    """
    loss_sum, correct, seen = 0.0, 0, 0
    for step, batch in enumerate(batches, 1):
        if cancel is not None:
            cancel.raise_if_cancelled("Training")
        before_step()
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
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        if on_step is not None:
            on_step(step, loss_sum, correct, seen)
    return loss_sum, correct, seen


def evaluate(
    model: nn.Module, batches: Iterable[Batch], *, inputs: Inputs, amp: Amp
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits float32 (N, K), labels int64 (N,) and sample indices int64 (N,) for ``batches``."""
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
        return np.empty((0, 0), np.float32), np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(logits), np.concatenate(labels), np.concatenate(indices)


def train(
    data: str | Path | DatasetScan,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    start: StartingPoint | None = None,
    cancel: CancelToken | None = None,
    on_progress: ProgressCallback | None = None,
    write_report: bool = True,
) -> TrainResult:
    """Train on the labelled folder ``data`` (or its scan) and write the model to ``out``.

    Writes ``out`` (a ``.reslens`` model file, atomically), a report beside it
    (``out`` with suffix ``.report.html``) and, while the run is unfinished, a training state
    (``out.state``) that ``resume=True`` continues from with the settings saved in it.
    ``start`` is the result of :func:`resolve_start` if the caller already has it.

    Raises :class:`DatasetError` for an unusable data set, :class:`WeightsNotFoundError`
    when ``config.pretrained`` is True and no weights can be had, and :class:`Cancelled` when
    cancelled before a model exists. Cancelled later, it returns with ``stopped="cancelled"``
    after saving the best model so far and the state to resume from.
    """
    from engine.training.run import TrainingRun

    run = TrainingRun(
        Path(out), config or TrainConfig(), resume=resume, cancel=cancel, on_progress=on_progress
    )
    return run.execute(data, start=start, write_report=write_report)
