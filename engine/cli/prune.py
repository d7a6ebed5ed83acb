"""``reslens prune MODEL DATA --ratio R --out PRUNED.reslens``: structured channel pruning."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "prune",
        help="remove a share of a model's channels, then fine-tune it briefly",
        description="Remove the fraction R of the channels of MODEL (whole filters, residual "
        "connections respected, so the network is really smaller and faster), fine-tune it on "
        "its own training split in DATA, and save it as a model file that loads on its own.",
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="trained .reslens file")
    parser.add_argument("data_dir", type=Path, metavar="DATA", nargs="?")
    parser.add_argument("--out", type=Path, required=True, help="pruned model file (.reslens)")
    parser.add_argument("--ratio", type=float, default=0.5, help="share removed (default: 0.5)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (default: 3)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument(
        "--table", action="store_true", help="measure the deployment table (original vs pruned)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.cli.exit_codes import EXIT_OK
    from engine.cli.variants import finish, print_epoch
    from engine.training.prune import PruneConfig, prune

    try:
        config = PruneConfig(ratio=args.ratio, epochs=args.epochs, device=args.device)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    prune(args.model, args.data_dir, args.out, config, on_epoch=print_epoch)
    finish(args.model, {"pruned": args.out}, args.data_dir, table=args.table)
    return EXIT_OK
