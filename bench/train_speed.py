"""Training speed of ResNet-18 and ResNet-50 at 224 px: the network alone, on ready batches.

    .venv/bin/python bench/train_speed.py [--archs resnet18 resnet50] [--batch 16] [--steps 4]
                                          [--device cpu|cuda] [--threads N]

Runs the engine's own training step (``engine.training.recipe.train_one_epoch``: AdamW, label
smoothing, channels-last, mixed precision on CUDA) on random uint8 batches, so decoding and
augmentation are left out. For each architecture: full fine-tuning (every layer trains) and the
head-only warm-up (body frozen). Prints the median images/s over the timed steps after one
warm-up step; on a shared CPU expect +-15 % run to run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def step_times(arch: str, *, batch: int, steps: int, device: str, head_only: bool) -> list[float]:
    """Seconds per training step (``steps`` of them, after one warm-up) for ``arch``."""
    import torch

    from engine.imaging.preprocess import PreprocessSpec
    from engine.training.data import Batch
    from engine.training.recipe import (
        Amp,
        Inputs,
        StartingPoint,
        build_network,
        make_optimizer,
        param_groups,
        set_phase,
        train_one_epoch,
    )
    from engine.training.records import TrainConfig

    config = TrainConfig(arch=arch, batch_size=batch, pretrained=False)
    start = StartingPoint(False, None, "random weights")
    model = build_network(arch, 10, start, 0).to(device).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(param_groups(model, arch, config, True), config)
    set_phase(model, arch, head_only=head_only)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (batch, 224, 224, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, batch).astype(np.int64)
    one = Batch(pixels, labels, np.arange(batch))
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    inputs, amp = Inputs(PreprocessSpec(), device), Amp(device)
    times = []
    for i in range(steps + 1):
        started = time.perf_counter()
        train_one_epoch(model, criterion, optimizer, [one], inputs=inputs, amp=amp)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i:  # the first step pays for allocations and kernel selection
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"device {args.device}, {torch.get_num_threads()} threads, batch {args.batch}, "
        f"224 px, median of {args.steps} steps"
    )
    print(f"{'architecture':<12} {'training':<22} {'images/s':>9} {'s/step':>7}")
    for arch in args.archs:
        for head_only, what in ((False, "full fine-tuning"), (True, "head only (warm-up)")):
            times = step_times(
                arch, batch=args.batch, steps=args.steps, device=args.device, head_only=head_only
            )
            median = statistics.median(times)
            print(f"{arch:<12} {what:<22} {args.batch / median:9.1f} {median:7.2f}")


if __name__ == "__main__":
    main()
