"""The model alone on ready tensors: torch eager vs ONNX Runtime fp32 vs ONNX Runtime INT8.

    .venv/bin/python bench/backends.py [--arch resnet50] [--rounds 3] [--iters-1 10]

Random weights (with varied batch-norm statistics, so the graph looks like a trained one), CPU
only, everything in one run so the ratios are comparable. Prints one table: images/s at batch 1
and 32 for each backend (ONNX Runtime at 1 thread and at the app's default), plus the time to
export (with its parity check) and to quantize (with calibration and its agreement check).

On a shared machine other processes come and go, so the backends are measured in interleaved
rounds and each keeps its best round: the figure is what the backend does when it gets the
cores, and a burst of outside load hits one round of every backend rather than one backend.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from engine.runtime.classifier import Classifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def images_per_second(run: Callable[[np.ndarray], object], batch: int, iters: int) -> float:
    """Median images/s of ``run`` on a random (batch, 3, 224, 224) input, after a warm-up."""
    inputs = np.random.default_rng(0).normal(size=(batch, 3, 224, 224)).astype(np.float32)
    time.sleep(0.2)  # let the previous backend's spinning worker threads go to sleep
    run(inputs)  # warm-up: allocations, oneDNN/MLAS kernel selection
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        run(inputs)
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def torch_classifier(arch: str) -> Classifier:
    """``arch`` with random weights on the torch backend, batch-norm statistics varied."""
    import torch

    from engine.inference.loader import load_classifier

    classifier = load_classifier(arch, weights="none", device="cpu")
    generator = torch.Generator().manual_seed(0)
    for module in classifier.backend.model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.rand(size, generator=generator) * 0.4 - 0.2)
            module.running_var.copy_(torch.rand(size, generator=generator) * 1.5 + 0.5)
            module.bias.data.copy_(torch.rand(size, generator=generator) * 0.2 - 0.1)
    return classifier


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--iters-1", type=int, default=10, help="timed batches of 1 per round")
    parser.add_argument("--iters-32", type=int, default=1, help="timed batches of 32 per round")
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="also time torch bf16 autocast on a CPU without AMX/AVX512-BF16 (emulated, slow)",
    )
    args = parser.parse_args()

    import importlib.metadata as md

    import torch

    from engine.onnx.export import export_verified
    from engine.onnx.parity import generated_images
    from engine.onnx.quantize import quantize_int8
    from engine.runtime.backends.onnx_backend import (
        OnnxBackend,
        default_threads,
        import_onnxruntime,
    )

    classifier = torch_classifier(args.arch)
    start = time.perf_counter()
    fp32, parity = export_verified(classifier)
    export_s = time.perf_counter() - start
    calibration = generated_images(32, classifier.preprocess.resize, seed=2)
    start = time.perf_counter()
    int8, _ = quantize_int8(fp32, None, calibration=calibration, tolerance=None)
    quantize_s = time.perf_counter() - start

    from engine.runtime.backends.torch_backend import TorchBackend
    from engine.runtime.machine import bf16_support, this_machine
    from engine.runtime.precision import Precision

    threads = default_threads()
    rows: list[tuple[str, int, Callable[[np.ndarray], object]]] = [
        ("torch eager, channels_last", torch.get_num_threads(), classifier.backend.logits)
    ]
    feature = bf16_support(this_machine().flags)
    if feature or args.bf16:
        bf16 = Precision("cpu", "bfloat16", "bench")
        net = classifier.backend
        label = f"torch bf16 autocast ({feature or 'emulated'})"
        run = TorchBackend(net.model, net.cam_layer, device="cpu", autocast=bf16).logits
        rows.append((label, torch.get_num_threads(), run))
    for label, data in (("ONNX Runtime fp32", fp32), ("ONNX Runtime INT8 (QDQ)", int8)):
        for n in sorted({1, threads}):
            rows.append((label, n, OnnxBackend(data, device="cpu", threads=n).logits))

    best = [[0.0, 0.0] for _ in rows]
    for _ in range(args.rounds):
        for row, (_, _, run) in zip(best, rows, strict=True):
            row[0] = max(row[0], images_per_second(run, 1, args.iters_1))
            row[1] = max(row[1], images_per_second(run, 32, args.iters_32))
    table = [(label, n, one, many) for (label, n, _), (one, many) in zip(rows, best, strict=True)]

    print(
        f"\n{args.arch} (random weights), 224 px, model alone on ready tensors, "
        f"best of {args.rounds} interleaved rounds\n"
        f"{cpu_name()}, {os.cpu_count()} cores; torch {md.version('torch')}, "
        f"onnxruntime {import_onnxruntime().__version__}, Python {platform.python_version()}\n"
    )
    print(f"| {'backend':<36} | threads | batch 1 img/s | batch 32 img/s |")
    print(f"|{'-' * 38}|---------|---------------|----------------|")
    for label, n, one, many in table:
        print(f"| {label:<36} | {n:>7} | {one:>13.1f} | {many:>14.1f} |")
    print(
        f"\nexport to ONNX + parity check on {parity.images} images: {export_s:.1f} s "
        f"(max probability difference {parity.max_prob_diff:.1e})"
        f"\nINT8 quantization ({len(calibration)} calibration images) + agreement check: "
        f"{quantize_s:.1f} s; app default ONNX Runtime threads here: {threads}"
    )


if __name__ == "__main__":
    main()
