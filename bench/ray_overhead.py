"""What one-node Ray costs against the local path, on the same folder and model.

    .venv/bin/python bench/ray_overhead.py [--count 160] [--size 1600x1200] [--arch resnet50]

Generates JPEGs once (bench/out/ray/), plants random weights in a private torch cache (as if
downloaded) and warms the verified ONNX copy, then prints one table: start-up of a local Ray
instance sized to this machine, the local path (`classify_files`, as `reslens classify`) and
`classify_on_ray` (as `--engine ray`), each as whole-call and steady-state img/s, plus the
per-image costs (decode + preprocess on one core, the model alone) that docs/SCALE.md's plan
for 10 million images is built from.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.data import make_photos  # noqa: E402
from bench.pipeline import plant_weights  # noqa: E402


class Clock:
    """Whole-call time, time to the first row, and the steady rate: rows from the 25th to the
    90th percentile of arrival over the time between them (start-up and drain excluded)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.arrivals: list[float] = []

    def row(self) -> None:
        self.arrivals.append(time.perf_counter())

    def figures(self) -> tuple[float, float, float, float]:
        """(whole-call s, whole-call img/s, first row s, steady img/s)."""
        end, n = time.perf_counter(), len(self.arrivals)
        lo, hi = n // 4, max(n // 4 + 1, (n * 9) // 10)
        span = self.arrivals[hi - 1] - self.arrivals[lo]
        steady = (hi - 1 - lo) / span if span > 0 else float("nan")
        return end - self.start, n / (end - self.start), self.arrivals[0] - self.start, steady


def run_local(
    paths: list[Path], arch: str, batch: int, backend: str
) -> tuple[float, float, float, float]:
    from engine.inference.batch import classify_files
    from engine.inference.loader import load_classifier

    clock = Clock()
    classifier = load_classifier(arch, device="cpu", backend=backend)
    for result in classify_files(classifier, paths, batch_size=batch):
        assert result.ok, result.error
        clock.row()
    return clock.figures()


def run_ray(
    paths: list[Path], arch: str, batch: int, backend: str
) -> tuple[float, float, float, float]:
    from engine.scale.ray_classify import classify_on_ray

    clock = Clock()
    stream = classify_on_ray(
        paths, model=arch, weights=None, device="cpu", backend=backend, top_k=5,
        batch_size=batch, address=None,
    )  # fmt: skip
    for result in stream:
        assert result.ok, result.error
        clock.row()
    return clock.figures()


def per_image_costs(
    paths: list[Path], arch: str, batch: int, backend: str
) -> tuple[float, float, float]:
    """Core-milliseconds per image, as CPU time of this process (so other programs on the
    machine inflate them little): decode + preprocess on one thread; the model alone on all
    its threads; and the model's wall-clock ms per image."""
    import numpy as np

    from engine.imaging.decode import load_image
    from engine.inference.loader import load_classifier

    classifier = load_classifier(arch, device="cpu", backend=backend)
    spec = classifier.preprocess
    sample = paths[: min(len(paths), 24)]
    cpu = time.process_time()
    arrays = [spec.to_array(load_image(p, min_side=spec.resize)) for p in sample]
    decode_ms = (time.process_time() - cpu) / len(sample) * 1e3
    tensors = np.stack((arrays * batch)[:batch])
    classifier.predict_batch(tensors)  # warm-up
    rounds = 3
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        classifier.predict_batch(tensors)
    model_ms = (time.process_time() - cpu) / (rounds * batch) * 1e3
    model_wall_ms = (time.perf_counter() - wall) / (rounds * batch) * 1e3
    return decode_ms, model_ms, model_wall_ms


def ray_start_seconds() -> float:
    import ray

    start = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    ray.cluster_resources()
    took = time.perf_counter() - start
    ray.shutdown()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=160)
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--backend", default="onnx", help="the same on both paths (default: ONNX Runtime fp32)"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    paths = make_photos(ROOT / "bench" / "out" / "ray" / args.size, args.count, (width, height))
    work = Path(tempfile.mkdtemp(prefix="reslens-ray-bench-"))
    os.environ["TORCH_HOME"] = str(work / "torch")
    os.environ["RESLENS_CACHE_DIR"] = str(work / "cache")
    plant_weights(work / "torch", args.arch)
    setting = (paths, args.arch, args.batch_size, args.backend)
    decode_ms, model_ms, model_wall_ms = per_image_costs(*setting)  # also warms the cache
    start_s = ray_start_seconds()
    local = run_local(*setting)
    ray_run = run_ray(*setting)  # starts and stops its own local Ray
    cores = len(os.sched_getaffinity(0))
    print(f"# {platform.processor() or platform.machine()}, {cores} cores, load {os.getloadavg()}")
    print(
        f"# {args.count} x {args.size} JPEGs, {args.arch}, {args.backend}, batch {args.batch_size}"
    )
    print("| row | figure |\n|---|---|")
    print(f"| decode + preprocess (CPU time, one thread) | {decode_ms:.1f} core-ms/img |")
    print(f"| model alone, {args.backend} (CPU time, all threads) | {model_ms:.1f} core-ms/img |")
    print(f"| model alone, {args.backend} (wall clock) | {model_wall_ms:.1f} ms/img |")
    print(f"| local Ray start-up (ray.init to resources known) | {start_s:.1f} s |")
    for name, (total, whole, first, steady) in (("local path", local), ("Ray Data", ray_run)):
        print(
            f"| {name}: whole call (model load / Ray start included) | {total:.1f} s, {whole:.2f} img/s |"
        )
        print(f"| {name}: first row after | {first:.1f} s |")
        print(f"| {name}: steady state (rows 25-90 %) | {steady:.2f} img/s |")
    print(f"| Ray / local, steady state | {ray_run[3] / local[3]:.2f} |")


if __name__ == "__main__":
    main()
