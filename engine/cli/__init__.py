"""``reslens`` command line: classify, explain, models, train, export, evaluate.

Each subcommand lives in its own module with ``add_parser(subparsers)`` that sets ``func``.
Exit codes: 0 ok, 1 some files failed, 2 usage or model error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from engine.cli.exit_codes import EXIT_ERROR, EXIT_INTERRUPTED
from engine.errors import Cancelled, EngineError
from engine.versions import version_or_unknown


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import (
        classify,
        distill,
        doctor,
        evaluate,
        explain,
        export,
        info,
        models,
        prune,
        train,
    )
    from engine.cli.common import add_log_options

    parser = Parser(
        prog="reslens",
        description="Classify images with residual networks, explain predictions with Grad-CAM.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version_or_unknown('reslens')}"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="say more")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        classify,
        explain,
        models,
        info,
        export,
        train,
        evaluate,
        distill,
        prune,
        doctor,
    ):
        module.add_parser(sub)
    for subparser in sub.choices.values():
        add_log_options(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    _configure_logging(debug=args.debug, verbose=args.verbose)
    try:
        return int(args.func(args))
    except (KeyboardInterrupt, Cancelled):
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (EngineError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


def _configure_logging(*, debug: bool, verbose: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    logging.getLogger().setLevel(level)
    for handler in logging.getLogger().handlers:
        # Loggers may be opened wider for a moment (to hear of a one-time export); what the
        # user reads is still only what they asked for.
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, None):
            handler.setLevel(level)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, EngineError) else f"{text} ({type(exc).__name__})"
