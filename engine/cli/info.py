"""``reslens info MODEL|ARCH``: the network in words, its costs, data, lineage and metrics."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "info",
        help="describe a model: stages, parameters, FLOPs, preprocessing, provenance, metrics",
        description="Describe an architecture or a model file (.reslens or .onnx): stem, the "
        "four stages with their block type, counts and channels, head, parameters, GFLOPs at "
        "the model's input size, the CAM layer's receptive field, preprocessing, classes, where "
        "the weights came from (data, split, teacher, pruning), metrics and the deployment "
        "table when one was measured.",
    )
    parser.add_argument("model", metavar="MODEL", help="architecture, .reslens or .onnx file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.cli.exit_codes import EXIT_OK
    from engine.models.info import model_facts

    print("\n".join(model_facts(args.model).lines()))
    return EXIT_OK
