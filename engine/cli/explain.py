"""``reslens explain IMAGE --out overlay.png``: a Grad-CAM overlay at the image's own size."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import add_model_options, load_from_args
from engine.errors import EngineError


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "explain", help="save a Grad-CAM overlay showing what the network looked at"
    )
    parser.add_argument("image", type=Path, metavar="IMAGE")
    add_model_options(parser)
    parser.add_argument(
        "--class", dest="class_name", metavar="NAME", help="class to explain (default: top-1)"
    )
    parser.add_argument("--out", type=Path, required=True, help="overlay PNG to write")
    parser.add_argument(
        "--alpha", type=float, default=0.5, help="heat map opacity 0..1 (default: 0.5)"
    )
    parser.add_argument(
        "--heatmap-only", action="store_true", help="write the heat map without the photo"
    )
    parser.set_defaults(func=run)


def class_index_for(name: str, class_names: tuple[str, ...]) -> int:
    """A class by exact name, case-insensitive name, or number."""
    lowered = [c.lower() for c in class_names]
    if name in class_names:
        return class_names.index(name)
    if name.lower() in lowered:
        return lowered.index(name.lower())
    if name.isdigit() and int(name) < len(class_names):
        return int(name)
    close = [c for c in class_names if name.lower() in c.lower()][:5]
    hint = f" Similar: {', '.join(close)}." if close else ""
    raise EngineError(f"This model has no class {name!r}.{hint}")


def run(args: argparse.Namespace) -> int:
    from engine.explain.overlay import blend, heatmap_image, save_png
    from engine.imaging.decode import load_image

    image = load_image(args.image)
    classifier = load_from_args(args)
    index = (
        None
        if args.class_name is None
        else class_index_for(args.class_name, classifier.class_names)
    )
    explanation = classifier.explain(image, index)
    if args.heatmap_only:
        result = heatmap_image(explanation.heatmap)
    else:
        result = blend(image, explanation.heatmap, alpha=args.alpha)
    save_png(result, args.out)
    print(f"{explanation.label} ({explanation.prob:.1%}) -> {args.out}", file=sys.stderr)
    return 0
