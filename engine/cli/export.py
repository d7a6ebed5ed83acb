"""``reslens export MODEL --out model.onnx [--quantize int8 --calibration DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="export a model to ONNX (verified against PyTorch), optionally INT8",
        description="Export an architecture or a .reslens model file to ONNX with its class "
        "names and preprocessing, check it against PyTorch and refuse when they disagree. "
        "With --quantize int8 (also for an .onnx MODEL), write a statically quantized model.",
    )
    parser.add_argument("model", metavar="MODEL", help="architecture, .reslens or .onnx file")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="(default: onnx)")
    parser.add_argument(
        "--weights",
        metavar="FILE|none",
        help="pretrained weights file for the architecture; 'none' = random init",
    )
    parser.add_argument("--quantize", choices=("int8",), help="static INT8 quantization (QDQ)")
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="DIR",
        help="with --quantize: folder of typical images to calibrate on (16+ images: half are "
        "held out for the agreement check); default: generated images",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.cli.exit_codes import EXIT_OK
    from engine.onnx.pipeline import export_model

    if args.calibration is not None and args.quantize is None:
        raise SystemExit("error: --calibration needs --quantize int8")
    fp32, int8 = export_model(
        args.model,
        args.out,
        weights=args.weights,
        quantize=args.quantize,
        calibration=args.calibration,
    )
    for result in (fp32, int8):
        if result is not None:
            print(result.describe(), file=sys.stderr)
    return EXIT_OK
