"""Command-line options of ``reslens-gui``: paths to open and a model to start with."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StartOptions:
    paths: tuple[str, ...] = ()
    model: str | None = None  # architecture or model file; None: the one used last time
    weights: str | None = None  # weights file, or "none" for a random-weights demo
    device: str | None = None
    select: int | None = None  # select this row once the files are listed
    mode: str | None = None  # "image", "overlay" or "heatmap"
    print_startup: bool = False  # print the seconds until the window is shown
    quit_after_s: float | None = None


def parse_args(argv: Sequence[str] | None) -> StartOptions:
    parser = argparse.ArgumentParser(
        prog="reslens-gui", description="ResLens desktop app: classify and explain images."
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="images or folders to open")
    parser.add_argument("--model", help="architecture (resnet50, ...) or a model file")
    parser.add_argument(
        "--weights", metavar="FILE|none", help="weights file; 'none': random weights (demo only)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"))
    parser.add_argument("--select", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("image", "overlay", "heatmap"), help=argparse.SUPPRESS)
    parser.add_argument("--print-startup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quit-after", type=float, dest="quit_after_s", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return StartOptions(
        paths=tuple(args.paths),
        model=args.model,
        weights=args.weights,
        device=args.device,
        select=args.select,
        mode=args.mode,
        print_startup=args.print_startup,
        quit_after_s=args.quit_after_s,
    )
