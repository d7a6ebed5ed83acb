"""``reslens models``: the architectures, and whether their weights are on this machine."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "models", help="list architectures and where their pretrained weights are"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.models.registry import ARCHITECTURES, DEFAULT_ARCH
    from engine.models.weights import find_weights, hub_cache_dir, weights_filename

    print(f"{'name':<12} {'model':<13} {'params':>7}  weights")
    for arch in ARCHITECTURES.values():
        found = find_weights(arch.name)
        where = (
            f"{found.origin}: {found.path}" if found else f"missing ({weights_filename(arch.name)})"
        )
        default = " (default)" if arch.name == DEFAULT_ARCH else ""
        print(
            f"{arch.name:<12} {arch.display_name:<13} {arch.params_millions:>6.1f}M  {where}{default}"
        )
    print(f"\nmissing weights download on first use into {hub_cache_dir()}")
    return 0
