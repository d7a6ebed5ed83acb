"""The learning-rate schedule of fine-tuning: linear warm-up, then cosine decay, applied through
torch's own ``LambdaLR`` over each parameter group's base rate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Schedule:
    """The learning-rate factor per optimizer step: linear warm-up over ``warmup_steps``,
    then cosine decay to 1 % at ``total_steps``."""

    total_steps: int
    warmup_steps: int

    @classmethod
    def for_run(cls, steps_per_epoch: int, epochs: int) -> Schedule:
        """Warm-up over a tenth of the run, at least one step and at most one epoch."""
        total = steps_per_epoch * epochs
        return cls(total, max(1, min(steps_per_epoch, total // 10)))

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.total_steps, self.warmup_steps)


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 1 % at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: Schedule, *, start_step: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` scaling each group's base rate (``initial_lr``, set by
    :func:`make_optimizer`) by ``schedule``, positioned so that the next optimizer step is
    ``start_step``: a resumed run continues its schedule where it stopped."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule, last_epoch=start_step - 1)
