"""``reslens doctor``: which backend this machine runs a model on, and why.

Prints the machine (CPU flags, cores, GPUs), then the tuner's table for the model: each
candidate, its speed on the verification images, its agreement with fp32, which one is used
and why. The first run on a machine measures (a few batches per candidate); later runs show
the cached result unless ``--retune``.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.models.registry import DEFAULT_ARCH


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "doctor", help="show the backends this machine can run a model on, and which is used"
    )
    parser.add_argument(
        "--model", default=DEFAULT_ARCH, help="architecture or model file (default: %(default)s)"
    )
    parser.add_argument("--weights", metavar="FILE", help="pretrained weights file")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    parser.add_argument(
        "--fast", action="store_true", help="allow INT8 (changes probabilities slightly)"
    )
    parser.add_argument("--retune", action="store_true", help="measure again, ignoring the cache")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.cli.exit_codes import EXIT_OK
    from engine.inference.loader import tuning_device
    from engine.inference.tuned import load_tuned
    from engine.runtime.backends.onnx_backend import onnxruntime_problem
    from engine.runtime.machine import this_machine
    from engine.runtime.precision import choose_precision

    machine = this_machine()
    device = tuning_device(args.device)
    training = choose_precision("cpu", cpu_flags=machine.flags)
    print(f"machine: {machine.describe()}")
    print(f"ONNX Runtime: {onnxruntime_problem() or 'usable'}")
    print(f"CPU training precision: {training.reason}")
    classifier, tuning = load_tuned(
        args.model,
        weights=args.weights,
        device=device,
        allow_int8=args.fast,
        allow_download=False,
        retune=args.retune,
    )
    print(f"\n{classifier.source.name} on {device}:")
    print(tuning.table().split("\n", 1)[1])  # the machine line is printed above
    return EXIT_OK
