"""Data-parallel training under torchrun: one process per device, DDP keeping them in step.

``torchrun --standalone --nproc-per-node N -m engine.cli train DATA ...`` starts N copies of the
command; torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...)
tells each which it is. Without that environment everything here is the one-process
:data:`SINGLE` world and changes nothing: a plain ``reslens train`` runs as before.

What the N processes share and how (the training loop calls these, see
:mod:`engine.training.run`):

- the model: :meth:`World.wrap` puts it in ``DistributedDataParallel`` (gloo on CPU, nccl on
  CUDA); gradients are averaged over the ranks, so every rank holds the same weights.
- the data: every rank draws the same epoch order (same ``--seed``, so the class-balanced
  draw is the same) and takes every N-th entry of it (:meth:`World.shard`), padded like
  ``torch.utils.data.DistributedSampler`` so that all ranks take the same number of steps.
  Augmentation is drawn per image from (seed, epoch, image), so an image gets the same
  augmentation however many ranks there are; torch's own generator is seeded per rank
  (:meth:`World.rank_seed`).
- the learning rate: ``--batch-size`` is per process; the global batch is N times that, and
  the rate is scaled with it (:func:`lr_scale`: linear for SGD, square root for AdamW).
- the metrics: training sums and validation outputs are gathered from all ranks, so every
  rank sees the same figures and picks the same best epoch.
- a stop: Ctrl-C reaches every rank; they agree on it after a step (:meth:`World.agree`), so
  all stop at the same step and rank 0 saves the best model so far.
- files and terminal: only rank 0 writes (model file, report, resume state: atomically, as
  always) and prints (:func:`joined` silences the others).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from engine.errors import EngineError
from engine.jobs import CancelToken

if TYPE_CHECKING:
    from torch import nn

    from engine.training.recipe import Evaluation
    from engine.training.records import TrainConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
RANK_SEED_STRIDE = 1_000_003  # a prime: rank seeds of nearby --seed values never collide


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def rank_seed(self, seed: int) -> int:
        """This rank's seed for torch's generator, derived from ``--seed``."""
        return seed + RANK_SEED_STRIDE * self.rank

    def seed_torch(self, seed: int) -> None:
        """Seed torch's generator for this rank (left alone on one process, as before)."""
        if self.distributed:
            import torch

            torch.manual_seed(self.rank_seed(seed))

    def shard_length(self, count: int) -> int:
        """How many of ``count`` training images each rank visits per epoch."""
        return math.ceil(count / self.size)

    def shard(self, order: np.ndarray) -> np.ndarray:
        """This rank's share of an epoch order every rank computed alike: every ``size``-th
        entry from ``rank`` on, after padding with the order's first entries to a multiple of
        ``size`` (as DistributedSampler does), so all shards have the same length."""
        if not self.distributed:
            return order
        padded = np.resize(order, self.shard_length(len(order)) * self.size)
        return padded[self.rank :: self.size]

    def eval_share(self, samples: Sequence[T]) -> tuple[T, ...]:
        """The validation/test samples this rank evaluates (every ``size``-th from ``rank``)."""
        return tuple(samples[self.rank :: self.size])

    def gather_evaluation(self, local: Evaluation) -> Evaluation:
        """Every rank's :meth:`eval_share` outputs, put back in sample order on every rank."""
        if not self.distributed:
            return local
        from torch import distributed as dist

        mine = (local.logits, local.labels, local.indices * self.size + self.rank)
        parts: list[Any] = [None] * self.size
        dist.all_gather_object(parts, mine)
        kept = [p for p in parts if len(p[2])]
        if not kept:
            return local
        logits, labels, indices = (np.concatenate([p[i] for p in kept]) for i in range(3))
        order = np.argsort(indices, kind="stable")
        return dataclasses.replace(
            local, logits=logits[order], labels=labels[order], indices=indices[order]
        )

    def sum(self, *values: float) -> tuple[float, ...]:
        """``values`` summed over all ranks (float64), the same on every rank."""
        if not self.distributed:
            return values
        import torch
        from torch import distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
        dist.all_reduce(tensor)
        return tuple(float(v) for v in tensor.tolist())

    def sum_counts(self, loss_sum: float, correct: int, seen: int) -> tuple[float, int, int]:
        """A training epoch's summed loss, correct predictions and images, over all ranks."""
        total_loss, total_correct, total_seen = self.sum(loss_sum, correct, seen)
        return total_loss, round(total_correct), round(total_seen)

    def agree(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank. A collective: every rank must call it alike."""
        if not self.distributed:
            return flag
        return self.sum(float(flag))[0] > 0

    def pass_on_stop(self, requested: CancelToken, loop: CancelToken) -> None:
        """After each training step, on every rank: cancel ``loop`` once a stop was
        ``requested`` on any rank, so that all ranks stop at the same step."""
        if self.agree(requested.cancelled):
            loop.cancel()

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel (the model itself on one process). Wrap again
        when the set of trained parameters changes: DDP registers them when it is made."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        on_gpu = next(model.parameters()).is_cuda
        device_ids = [self.local_rank] if on_gpu else None
        return DistributedDataParallel(model, device_ids=device_ids)


SINGLE = World()


class PhaseWrapper:
    """The model as trained: in DDP under torchrun, made again (and the old wrapper dropped)
    when the phase, and so the set of trained parameters, changes."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.phase: object = None
        self.wrapped: nn.Module | None = None

    def __call__(self, model: nn.Module, *, phase: object) -> nn.Module:
        if self.wrapped is None or phase != self.phase:
            self.wrapped = None  # its gradient hooks go before the new wrapper's come
            self.wrapped, self.phase = self.world.wrap(model), phase
        return self.wrapped


def stop_tokens(world: World, requested: CancelToken) -> tuple[CancelToken, CancelToken]:
    """(what Ctrl-C sets, what the loop and its loaders obey): the same token on one
    process; under torchrun a second one, set only when all ranks agree (:meth:`World.pass_on_stop`)."""
    return requested, CancelToken() if world.distributed else requested


def world_from_env(env: Mapping[str, str] | None = None) -> World:
    """The world torchrun's environment describes; :data:`SINGLE` without it."""
    env = os.environ if env is None else env
    if not all(name in env for name in TORCHRUN_VARS):
        return SINGLE
    try:
        world = World(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"]))
    except ValueError as exc:
        raise EngineError(f"torchrun's RANK/WORLD_SIZE/LOCAL_RANK are not numbers: {exc}") from exc
    if not 0 <= world.rank < world.size:
        raise EngineError(f"RANK {world.rank} is outside WORLD_SIZE {world.size}.")
    return world


def join(device: str = "auto") -> World:
    """This process's world, joining torchrun's process group once (gloo on CPU, nccl on
    CUDA; each rank on GPU ``LOCAL_RANK``). Idempotent; :data:`SINGLE` without torchrun."""
    world = world_from_env()
    if not world.distributed:
        return world
    import torch
    from torch import distributed as dist

    if dist.is_initialized():
        return world
    on_gpu = device.lower() != "cpu" and torch.cuda.is_available()
    if on_gpu:
        torch.cuda.set_device(world.local_rank)
    backend = "nccl" if on_gpu else "gloo"
    dist.init_process_group(backend=backend)
    log.info("rank %d of %d joined (%s)", world.rank, world.size, backend)
    return world


@contextlib.contextmanager
def joined(device: str = "auto") -> Iterator[World]:
    """:func:`join` for a whole command: ranks other than 0 print nothing, and the process
    group is left at the end."""
    world = join(device)
    if not world.distributed:
        yield world
        return
    with open(os.devnull, "w") as quiet, contextlib.ExitStack() as stack:
        if not world.is_main:
            stack.enter_context(contextlib.redirect_stdout(quiet))
            stack.enter_context(contextlib.redirect_stderr(quiet))
        try:
            yield world
        finally:
            _leave()


def _leave() -> None:
    from torch import distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _collective_device() -> str:
    from torch import distributed as dist

    return "cuda" if dist.get_backend() == "nccl" else "cpu"


def lr_scale(optimizer: str, world_size: int) -> float:
    """How much the learning rate grows with the global batch (``world_size`` x per-process):
    linearly for SGD (Goyal et al. 2017, with the run's warm-up), by the square root for
    AdamW (the square-root rule for adaptive optimizers: Malladi et al. 2022)."""
    if world_size < 1:
        raise ValueError("world_size must be >= 1")
    return float(world_size) if optimizer == "sgd" else math.sqrt(world_size)


def join_run(config: TrainConfig, *, resumed: bool) -> tuple[World, TrainConfig]:
    """Set this process up for a training run: join torchrun's world if there is one, seed
    torch's generator for this rank, and record the world size in ``config``
    (:func:`for_world`). One process without torchrun, nothing changed."""
    world = join(config.device)
    world.seed_torch(config.seed)
    return world, for_world(config, world, resumed=resumed)


def for_world(config: TrainConfig, world: World, *, resumed: bool) -> TrainConfig:
    """``config`` with this run's ``world_size`` recorded (the model file's training settings
    keep it). A ``resumed`` run (``config`` as saved) must use the world size it started with:
    its position counts steps of that many processes."""
    if resumed and config.world_size != world.size:
        raise EngineError(
            f"This training ran on {config.world_size} process(es); resume it with the same "
            f"number (torchrun --nproc-per-node), not {world.size}."
        )
    return dataclasses.replace(config, world_size=world.size)
