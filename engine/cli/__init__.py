"""``reslens`` command line: classify, explain, models, train, export, evaluate.

Each subcommand lives in its own module with ``add_parser(subparsers)`` that sets ``func``.
Exit codes: 0 ok, 1 some files failed, 2 usage or model error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from engine.cli.exit_codes import EXIT_ERROR, EXIT_INTERRUPTED
from engine.errors import Cancelled, EngineError


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import classify, evaluate, explain, export, models, train

    parser = argparse.ArgumentParser(
        prog="reslens",
        description="Classify images with residual networks, explain predictions with Grad-CAM.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (classify, explain, models, export, train, evaluate):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except (KeyboardInterrupt, Cancelled):
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EngineError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _version() -> str:
    import importlib.metadata as md

    try:
        return md.version("reslens")
    except md.PackageNotFoundError:
        return "unknown"
