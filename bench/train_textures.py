"""Train from scratch on real photographs: texture patches cut from scikit-image's sample images.

    .venv/bin/python bench/train_textures.py [--epochs 15] [--image-size 64] [--per-class 80]
                                             [--arch resnet18] [--threads N]

Five classes from photos that ship with scikit-image (no download): brick, grass, gravel,
immunohistochemistry (stained tissue) and hubble_deep_field (stars), all converted to 8-bit
grayscale so colour gives nothing away. Training patches come from the top three quarters of
each photo and validation patches from the bottom quarter, so no validation pixel was ever
trained on. They are written as ``train/<class>/`` and ``val/<class>/`` folders (the layout a
user would give) under bench/out/textures/, then ``engine.training.run.train`` runs exactly as
``reslens train`` would, from random weights. Prints validation accuracy, epochs, wall time and
training images/s; the goal is >= 90 % validation accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCES = ("brick", "grass", "gravel", "immunohistochemistry", "hubble_deep_field")
PATCH = 64
TRAIN_SHARE = 0.75


def make_patches(folder: Path, *, per_class: int, seed: int = 0) -> Path:
    """Write train/ and val/ patch folders (once; reused when present). Returns ``folder``."""
    import skimage.data

    marker = folder / f".complete-{per_class}"
    if marker.exists():
        return folder
    rng = np.random.default_rng(seed)
    for name in SOURCES:
        gray = np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert("L"))
        cut = int(gray.shape[0] * TRAIN_SHARE)
        for split, band, count in (
            ("train", gray[:cut], per_class),
            ("val", gray[cut:], max(10, per_class // 4)),
        ):
            out = folder / split / name
            out.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                top = int(rng.integers(0, band.shape[0] - PATCH + 1))
                left = int(rng.integers(0, band.shape[1] - PATCH + 1))
                patch = band[top : top + PATCH, left : left + PATCH]
                Image.fromarray(patch).save(out / f"{name}_{i:04d}.png")
    marker.touch()
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=80, help="training patches per class")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    import torch

    from engine.training.records import TrainConfig
    from engine.training.run import train

    if args.threads:
        torch.set_num_threads(args.threads)
    data = make_patches(ROOT / "bench" / "out" / "textures", per_class=args.per_class)
    config = TrainConfig(
        arch=args.arch,
        epochs=args.epochs,
        image_size=args.image_size,
        batch_size=args.batch_size,
        pretrained=False,
        patience=0,
        device="cpu",
    )
    started = time.perf_counter()
    result = train(data, ROOT / "bench" / "out" / "textures.reslens", config)
    wall = time.perf_counter() - started
    epoch_seconds = sum(r.seconds for r in result.history)
    trained_images = len(result.split.train) * len(result.history)
    step_rate = float(np.median([r.images_per_s for r in result.history]))
    print(result.summary())
    print()
    print(f"data: {result.split.describe()}, {len(SOURCES)} classes, {PATCH} px grayscale patches")
    print(f"{args.arch} from scratch at {args.image_size} px, {torch.get_num_threads()} threads")
    print(
        f"validation accuracy {result.metrics.accuracy:.1%} (balanced {result.metrics.balanced_accuracy:.1%})"
    )
    reached = next((r.epoch for r in result.history if r.val_accuracy >= 0.9), None)
    print(
        f"epochs {len(result.history)}, best epoch {result.best_epoch}, "
        f"first epoch at >= 90 % validation accuracy: {reached or 'none'}"
    )
    print(f"wall time {wall:.1f} s (epochs with their evaluation {epoch_seconds:.1f} s)")
    print(
        f"training {step_rate:.1f} images/s (median over epochs, training steps only); "
        f"{trained_images / max(epoch_seconds, 1e-9):.1f} images/s with evaluation"
    )
    print(f"model {result.model_path}, report {result.report_path}")


if __name__ == "__main__":
    main()
