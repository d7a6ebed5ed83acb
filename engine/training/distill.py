"""Knowledge distillation: train a smaller student to match a trained teacher (Hinton et al.,
"Distilling the Knowledge in a Neural Network", 2015).

>>> distill("teacher.reslens", "data/", "student.reslens", DistillConfig(student="resnet18"))  # doctest: +SKIP

Loss per batch: ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) +
(1 - alpha) * label loss``, the label loss being ``train``'s (label-smoothed, class-weighted
cross-entropy). The T^2 keeps the soft term's gradients on the scale of the hard term's. The
student trains on the teacher's own split (found again from its model file, so validation
figures are comparable) with the teacher's recipe, at the teacher's preprocessing. Teacher
logits are computed on the fly: every epoch augments each image differently, so a per-image
cache would give the student targets for pictures it is not shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError
from engine.jobs import CancelToken
from engine.models.card import file_sha256
from engine.models.model_file import MODEL_SUFFIX, ModelInfo, load_model_file
from engine.models.model_file import build_network as rebuild
from engine.models.registry import get_architecture
from engine.training import recipe
from engine.training.records import TrainConfig, TrainResult
from engine.training.tuning import (
    EpochCallback,
    amend_card,
    parts_for,
    recipe_of,
    recorded_data,
    tune,
)

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.hooks import RemovableHandle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillConfig:
    """``temperature`` softens both outputs; ``alpha`` is the share of the distillation term
    (0 = labels only, 1 = teacher only). ``epochs``/``pretrained``/``device`` as in
    :class:`~engine.training.records.TrainConfig` (None epochs: the teacher's)."""

    student: str = "resnet18"
    temperature: float = 4.0
    alpha: float = 0.5
    epochs: int | None = None
    pretrained: bool | None = None
    device: str = "auto"
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature <= 0 or not 0 <= self.alpha <= 1:
            raise ValueError("need temperature > 0 and 0 <= alpha <= 1")


class DistillationLoss:
    """``loss(student_logits, labels)`` using the teacher logits of the same batch, which a
    forward pre-hook on the student computes (without gradients) whenever it trains."""

    def __init__(
        self, teacher: nn.Module, label_loss: nn.Module, temperature: float, alpha: float
    ) -> None:
        self.teacher, self.label_loss = teacher.eval().requires_grad_(False), label_loss
        self.temperature, self.alpha = temperature, alpha
        self.teacher_logits: torch.Tensor | None = None

    def attach(self, student: nn.Module) -> RemovableHandle:
        import torch

        def run_teacher(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            if module.training:
                with torch.no_grad():
                    self.teacher_logits = self.teacher(args[0]).float()

        return student.register_forward_pre_hook(run_teacher)

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        hard = self.label_loss(logits, labels)
        if self.alpha == 0:
            return hard  # type: ignore[no-any-return]
        if self.teacher_logits is None or self.teacher_logits.shape != logits.shape:
            raise RuntimeError("the teacher did not see this batch")
        t = self.temperature
        soft = F.kl_div(
            F.log_softmax(logits / t, dim=1),
            F.log_softmax(self.teacher_logits / t, dim=1),
            log_target=True,
            reduction="batchmean",
        )
        self.teacher_logits = None
        return self.alpha * t * t * soft + (1 - self.alpha) * hard  # type: ignore[no-any-return]


def load_network(path: Path, device: str) -> tuple[nn.Module, ModelInfo]:
    """A ``.reslens`` file's network with its weights, on ``device``, channels-last."""
    import torch

    state, info = load_model_file(path)
    network = rebuild(info)
    network.load_state_dict(state)
    return network.to(device).to(memory_format=torch.channels_last), info


def distill(
    teacher: str | Path,
    data: str | Path,
    out: str | Path,
    config: DistillConfig | None = None,
    *,
    cancel: CancelToken | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train ``config.student`` on ``data`` (the folder the teacher was trained on) with the
    teacher's outputs as soft targets; write the student's model file and report to ``out``.

    Raises DatasetError when ``data`` is not the teacher's data set as recorded."""
    import torch

    from engine.runtime.backends.torch_backend import resolve_device

    config = config or DistillConfig()
    teacher, out = Path(teacher), Path(out)
    if out.suffix.lower() != MODEL_SUFFIX:
        raise EngineError(f"The student's file name must end in {MODEL_SUFFIX}: {out}")
    device = resolve_device(config.device)
    teacher_net, info = load_network(teacher, device)
    recorded = recorded_data(data, info.extra, teacher.name)
    student_recipe = _student_recipe(config, info, device)
    start = recipe.resolve_start(student_recipe, cancel=cancel)
    arch, k = student_recipe.arch, len(info.class_names)
    student = recipe.build_network(arch, k, start, student_recipe.seed)
    student = student.to(device).to(memory_format=torch.channels_last)
    parts = parts_for(student, student_recipe, recorded, info.preprocess, device)
    loss = DistillationLoss(teacher_net, parts.criterion, config.temperature, config.alpha)
    parts.criterion = loss  # type: ignore[assignment]
    handle = loss.attach(student)
    try:
        result = tune(
            out, parts, recorded, student_recipe, info.preprocess, start=start, cancel=cancel,
            on_epoch=on_epoch,
        )  # fmt: skip
    finally:
        handle.remove()
    settings = {"temperature": config.temperature, "alpha": config.alpha}
    amend_card(
        out,
        source=f"distilled from {teacher.name} ({info.arch})",
        teacher={"file": teacher.name, "sha256": file_sha256(teacher), "arch": info.arch}
        | settings,
        extra={"distillation": settings | {"teacher_logits": "on the fly"}},
    )
    return result


def _student_recipe(config: DistillConfig, teacher: ModelInfo, device: str) -> TrainConfig:
    """The teacher's recipe for the student: its architecture, at the teacher's input size."""
    changes: dict[str, Any] = {
        "arch": get_architecture(config.student).name,
        "device": device,
        "image_size": teacher.preprocess.crop,
        "pretrained": config.pretrained,
    }
    if config.epochs is not None:
        changes["epochs"] = config.epochs
    if config.seed is not None:
        changes["seed"] = config.seed
    return recipe_of(teacher.extra, **changes)
