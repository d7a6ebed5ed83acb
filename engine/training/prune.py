"""Structured channel pruning: remove whole filters, so the network is really smaller and faster
on every runtime (not just sparse), then fine-tune it briefly on its own training split.

>>> prune("model.reslens", "data/", "pruned.reslens", PruneConfig(ratio=0.5))  # doctest: +SKIP

The dependency analysis is torch-pruning's (Fang et al., "DepGraph: Towards Any Structural
Pruning", CVPR 2023; MIT licence): it traces the network once and groups every channel with the
layers it is tied to, so a residual stage's channels go from the stem (or the projection
shortcut) and every block's last convolution and batch norm together, and each following
layer loses the matching inputs. We did not write that analysis ourselves: it is the fragile
part (concatenations, shortcuts, batch norms), and torch-pruning is maintained and tested on
torchvision's ResNets and DenseNets. Filters are ranked by L1 norm (Li et al., "Pruning
Filters for Efficient ConvNets", 2017), the same fraction in every group; the classifier keeps
its outputs. The model file records every layer's new width, so it loads without the original.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError
from engine.jobs import CancelToken
from engine.models.card import file_sha256
from engine.models.model_file import MODEL_SUFFIX, ModelInfo, layer_widths, save_model_file
from engine.models.registry import classifier_layer
from engine.training.distill import load_network
from engine.training.recipe import StartingPoint
from engine.training.records import TrainResult
from engine.training.tuning import (
    EpochCallback,
    amend_card,
    parts_for,
    recipe_of,
    recorded_data,
    state_on_cpu,
    tune,
)

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

METHOD = "torch-pruning DepGraph, L1 filter norm, residual-coupled groups"
FINE_TUNE_LR_FACTOR = 0.1


@dataclass(frozen=True)
class PruneConfig:
    """``ratio``: share of channels removed from each prunable group (0 < ratio < 1).
    ``epochs``: fine-tuning epochs afterwards (0: none)."""

    ratio: float = 0.5
    epochs: int = 3
    device: str = "auto"

    def __post_init__(self) -> None:
        if not 0 < self.ratio < 1 or self.epochs < 0:
            raise ValueError("need 0 < ratio < 1 and epochs >= 0")


def prune_network(model: nn.Module, arch: str, *, ratio: float, input_size: int) -> None:
    """Remove ``ratio`` of the channels of every prunable group of ``model`` in place (on the
    CPU or its device); the classifier's outputs stay."""
    import torch
    import torch_pruning as tp

    device = next(model.parameters()).device
    example = torch.zeros(1, 3, input_size, input_size, device=device)
    was_training = model.training
    model.eval()
    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ratio,
        ignored_layers=[classifier_layer(model, arch)],
    )
    pruner.step()
    model.train(was_training)


def conv_channels(model: nn.Module) -> int:
    """Output channels summed over all convolutions (the figure pruning reduces)."""
    from torch import nn

    return sum(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))


def structure_of(model: nn.Module, original: str, ratio: float) -> dict[str, Any]:
    """The card's ``structure`` record for ``model``, pruned from the file ``original``."""
    return {
        "pruned_from": original,
        "ratio": ratio,
        "method": METHOD,
        "layers": layer_widths(model),
    }


def prune(
    model: str | Path,
    data: str | Path | None,
    out: str | Path,
    config: PruneConfig | None = None,
    *,
    cancel: CancelToken | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainResult | None:
    """Prune the ``.reslens`` file ``model``, fine-tune it for ``config.epochs`` on ``data``
    (the folder it was trained on; not needed when epochs is 0), write it to ``out`` (with a
    report when fine-tuned). Returns the fine-tuning's result, None without fine-tuning."""
    from engine.runtime.backends.torch_backend import resolve_device

    config = config or PruneConfig()
    source, out = Path(model), Path(out)
    if out.suffix.lower() != MODEL_SUFFIX:
        raise EngineError(f"The pruned model's file name must end in {MODEL_SUFFIX}: {out}")
    if config.epochs and data is None:
        raise EngineError("Fine-tuning after pruning needs the data set; give DATA or --epochs 0.")
    device = resolve_device(config.device)
    network, info = load_network(source, device)
    recorded = recorded_data(data, info.extra, source.name) if config.epochs and data else None
    prune_network(network, info.arch, ratio=config.ratio, input_size=info.preprocess.crop)
    already = float(info.structure["ratio"]) if info.structure else 0.0
    total = 1 - (1 - already) * (1 - config.ratio)  # of the stock widths, after earlier pruning
    card: dict[str, Any] = {
        "source": f"{source.name} with {config.ratio:.0%} of its channels pruned",
        "structure": structure_of(network, source.name, total),
        "teacher": info.teacher,
    }
    pruning = {"from": source.name, "sha256": file_sha256(source), "ratio": config.ratio}
    if recorded is None:
        kept = {k: info.extra[k] for k in ("training", "split") if k in info.extra}
        save_model_file(
            out, state_on_cpu(network), ModelInfo(
                arch=info.arch, class_names=info.class_names, preprocess=info.preprocess,
                temperature=info.temperature, extra=kept | {"pruning": pruning}, **card,
            ),
        )  # fmt: skip
        return None
    # The kept filters are trained already: fine-tune at a tenth of the recipe's rate.
    base = recipe_of(info.extra)
    settings = recipe_of(
        info.extra, epochs=config.epochs, device=device, lr=base.base_lr * FINE_TUNE_LR_FACTOR
    )
    start = StartingPoint(False, None, f"Pruned from {source.name}; {METHOD}.")
    parts = parts_for(network, settings, recorded, info.preprocess, device)
    result = tune(
        out, parts, recorded, settings, info.preprocess, start=start, cancel=cancel,
        on_epoch=on_epoch,
    )  # fmt: skip
    amend_card(out, **card, extra={"pruning": pruning})
    return result
