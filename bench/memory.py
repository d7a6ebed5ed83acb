"""Peak memory of `reslens classify` on 1,000 vs 10,000 files: it should stay flat.

    .venv/bin/python bench/memory.py [--arch resnet18] [--small 1000] [--large 10000]

Uses 640x480 JPEGs (generated once into bench/out/) and random weights planted in a private
torch cache, so the app runs as it does for a user with cached weights (ONNX Runtime on CPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.data import make_photos  # noqa: E402
from bench.pipeline import plant_weights, run_process  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10000)
    args = parser.parse_args()

    paths = make_photos(ROOT / "bench" / "out" / "vga", args.large, (640, 480))
    work = Path(tempfile.mkdtemp(prefix="reslens-mem-"))
    plant_weights(work / "torch", args.arch)
    env = {
        **os.environ,
        "TORCH_HOME": str(work / "torch"),
        "RESLENS_CACHE_DIR": str(work / "cache"),
    }
    reslens = str(Path(sys.executable).with_name("reslens"))
    # Warm the ONNX cache so both runs measure classification alone.
    run_process([reslens, "classify", "--model", args.arch, str(paths[0])], env)
    for count in (args.small, args.large):
        listing = work / f"list-{count}"
        listing.mkdir(exist_ok=True)
        for path in paths[:count]:
            link = listing / path.name
            if not link.exists():
                link.symlink_to(path)
        out = work / f"results-{count}.csv"
        wall, rss, _ = run_process(
            [reslens, "classify", "--model", args.arch, "--out", str(out), str(listing)], env
        )
        print(f"{count:>6} files: {count / wall:6.1f} img/s, peak RSS {rss:6.0f} MB")


if __name__ == "__main__":
    main()
