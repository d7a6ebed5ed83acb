"""Measure time to window and time to first prediction of the desktop app, from process launch.

    .venv/bin/python packaging/measure_startup.py -- dist/ResLens/ResLens          # the bundle
    .venv/bin/python packaging/measure_startup.py -- .venv/bin/python packaging/launcher.py

The app is started with one sample photo, random ResNet-50 weights (``--weights none``: the
same work as pretrained ones, without needing them) and ``--startup-probe`` (see
packaging/launcher.py), which prints a line when the window's event loop first runs and when the
first file is classified. Times are taken here, when those lines arrive, from the moment the
process was launched. Each run gets fresh settings and an empty torch cache. Run it with a
display (e.g. under Xvfb) or QT_QPA_PLATFORM=offscreen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "samples" / "cat.jpg"


def one_run(command: list[str], timeout_s: float) -> dict[str, float]:
    """Start the app once -> {"window": s, "first-prediction": s} since launch."""
    with tempfile.TemporaryDirectory(prefix="reslens-startup-") as home:
        env = dict(os.environ)
        for name in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "TORCH_HOME"):
            env[name] = str(Path(home) / name.lower())
        args = [*command, str(SAMPLE), "--startup-probe", "--weights", "none"]
        start = time.perf_counter()
        app = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        times: dict[str, float] = {}
        try:
            assert app.stdout is not None
            for raw in app.stdout:
                parts = raw.decode(errors="replace").split()
                if len(parts) >= 2 and parts[0] == "reslens-probe":
                    times[parts[1]] = time.perf_counter() - start
                if "first-prediction" in times or time.perf_counter() - start > timeout_s:
                    break
        finally:
            app.terminate()
            try:
                app.wait(timeout=10)
            except subprocess.TimeoutExpired:
                app.kill()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("command", nargs="+", help="the app to start, after --")
    args = parser.parse_args(argv)
    runs = []
    for n in range(args.runs):
        times = one_run(args.command, args.timeout)
        runs.append(times)
        shown = ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
        print(f"run {n + 1}: {shown or 'no probe output (is --startup-probe supported?)'}")
    for event in ("window", "first-prediction"):
        values = [r[event] for r in runs if event in r]
        if values:
            print(
                f"{event}: median {statistics.median(values):.2f} s "
                f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)"
            )
    return 0 if all("first-prediction" in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
