"""Every benchmark, one after another: `make bench` (about 20-30 minutes on 2 cores).

Each script prints its own table; the ratios that matter are measured inside one script
(pipeline.py: naive loop, whole process and model alone), so they stay comparable on a noisy
machine. Close other programs first: two busy cores change every figure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    ("pipeline.py", []),
    ("backends.py", []),
    ("memory.py", []),
    ("gui_responsiveness.py", ["--count", "500"]),
    ("train_speed.py", []),
    ("train_textures.py", []),
    ("gpu_check.py", []),  # says "nothing measured" and exits at once without CUDA
)


def main() -> int:
    failed = []
    for script, args in SCRIPTS:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / script), *args], check=False)
        if done.returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
