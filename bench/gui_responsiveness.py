"""How responsive the desktop app stays while it classifies a folder, and how fast it opens.

    .venv/bin/python bench/gui_responsiveness.py [--count 1000] [--arch resnet50]

Runs the real main window (offscreen) with a random-weights network (speed is the same as
with pretrained weights, which cannot be downloaded here), drops a folder of generated
1024x768 JPEGs on it, and while the batch runs a 10 ms QTimer on the GUI thread records how
late each tick fires. Meanwhile it does what a user does: selects another image every 0.5 s
(thumbnails, Grad-CAM), scrolls, and resizes the window, while the Train tab's live charts
take a training progress report every 0.1 s (the rate training sends them; ``--no-charts``
leaves them off). Prints the largest and 99th
percentile delay (target: under 100 ms), throughput, memory, and the time until the window is
on screen in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench.data import make_photos  # noqa: E402

TICK_MS = 10
STALL_MS = 50
"""Delays beyond this are listed with the user action that came just before them."""


def time_to_window(runs: int) -> list[tuple[float, float]]:
    """(seconds inside the process, seconds from launching it) until the window is shown."""
    figures = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, XDG_CONFIG_HOME=home, TORCH_HOME=home)
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "gui", "--print-startup", "--quit-after", "0.2"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert proc.stdout is not None
            line = proc.stdout.readline()
            launched = time.perf_counter() - start
            proc.wait(timeout=120)
        match = re.search(r"after ([\d.]+) s", line)
        if match:
            figures.append((float(match.group(1)), launched))
    return figures


class LatencyProbe:
    """A timer on the GUI thread; each tick's lateness is how long the event loop was busy."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.delays_ms: list[float] = []
        self.stalls: list[tuple[float, float]] = []  # (when the stall ended, its delay in ms)
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.delays_ms.clear()
        self.stalls.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        delay = max(0.0, (now - self._last) * 1000 - TICK_MS)
        self.delays_ms.append(delay)
        if delay > STALL_MS:
            self.stalls.append((now, delay))
        self._last = now

    def summary(self) -> str:
        if not self.delays_ms:
            return "no ticks"
        ordered = sorted(self.delays_ms)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"max {ordered[-1]:.0f} ms, p99 {p99:.0f} ms, "
            f"median {statistics.median(ordered):.1f} ms over {len(ordered)} ticks"
        )


def run_window(paths: list[Path], arch: str, weights: str | None, *, charts: bool) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow
    from gui.options import StartOptions
    from gui.results_model import RowState
    from gui.settings import Settings

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(
            Settings.at(Path(tmp) / "s.ini"), options=StartOptions(model=arch, weights=weights)
        )
        window.resize(1280, 820)
        window.show()
        probe = LatencyProbe()
        loaded: list[float] = []
        window.controller.model_loaded.connect(lambda _: loaded.append(time.perf_counter()))
        probe.start()
        t0 = time.perf_counter()
        window.start()
        _spin(app, lambda: bool(loaded), 300)
        print(f"model load (torch import on a worker): {loaded[0] - t0:.1f} s")
        print(f"  GUI-thread delay meanwhile: {probe.summary()}")

        model, count = window.controller.results, len(paths)
        first: list[float] = []
        user = _UserSimulator(window, charts=charts)
        probe.start()
        t0 = time.perf_counter()
        window.controller.add_paths(paths)
        user.start()

        def finished() -> bool:
            counts = model.counts()
            if not first and counts[RowState.CLASSIFIED]:
                first.append(time.perf_counter() - t0)
            return model.rowCount() == count and counts[RowState.WAITING] == 0

        _spin(app, finished, 3600)
        elapsed = time.perf_counter() - t0
        probe.stop()
        user.stop()
        print(f"batch of {count} images: {elapsed:.1f} s, {count / elapsed:.1f} img/s")
        print(f"  first result after {first[0]:.2f} s" if first else "  no results")
        print(f"  user actions meanwhile: {user.describe()}")
        print(f"  GUI-thread delay during the batch: {probe.summary()}")
        print(f"  delays over {STALL_MS} ms, by the action just before: {user.blame(probe.stalls)}")
        print(f"  thumbnails cached: {len(window.controller.thumbnails)}")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak memory (RSS) of the whole app: {rss_mb:.0f} MB")
        print(f"  load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
        print(f"cancel: {cancel_latency(app, window):.2f} s from Esc until the worker is idle")
        QTimer.singleShot(0, window.close)
        _spin(app, lambda: not window.isVisible(), 60)


def cancel_latency(app, window, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Classify everything again, press Cancel after 2 s; worst time until the worker is idle."""
    worst = 0.0
    for _ in range(runs):
        window.controller.results.reset_results()
        window.controller.classify_waiting()
        _spin(app, lambda: False, 2.0, quiet=True)
        pressed = time.perf_counter()
        window.commands.cancel.trigger()
        _spin(app, window.controller.jobs.is_idle, 60)
        worst = max(worst, time.perf_counter() - pressed)
    return worst


class _UserSimulator:
    """Every 0.5 s: select the next image; every 0.25 s: scroll; every 2 s: resize."""

    def __init__(self, window, *, charts: bool) -> None:  # type: ignore[no-untyped-def]
        from PySide6.QtCore import QTimer

        self.window = window
        self.selections = self.scrolls = self.resizes = self.reports = 0
        self._timers = []
        actions = [(500, self._select), (250, self._scroll), (2000, self._resize)]
        self.curves = None
        if charts:
            from gui.training.curves import LiveCurves

            # The Train tab's chart widget, shown beside the window, fed as training feeds it.
            self.curves = LiveCurves()
            self.curves.resize(760, 260)
            self.curves.show()
            actions.append((100, self._report))
        self.log: list[tuple[float, str]] = []  # (when, which action)
        for ms, action in actions:
            timer = QTimer()
            timer.setInterval(ms)
            timer.timeout.connect(self._logged(action.__name__.strip("_"), action))
            self._timers.append(timer)

    def start(self) -> None:
        for timer in self._timers:
            timer.start()

    def stop(self) -> None:
        for timer in self._timers:
            timer.stop()
        if self.curves is not None:
            self.curves.close()

    def blame(self, stalls: list[tuple[float, float]]) -> str:
        """Each stall under the last action that started before it did."""
        found: dict[str, list[float]] = {}
        for end, delay in stalls:
            start = end - delay / 1000
            before = [(t, name) for t, name in self.log if t <= start + TICK_MS / 1000]
            name = before[-1][1] if before else "none"
            found.setdefault(name, []).append(delay)
        return (
            "; ".join(
                f"{name} {len(d)}x (max {max(d):.0f} ms)" for name, d in sorted(found.items())
            )
            or "none"
        )

    def _logged(self, name: str, action):  # type: ignore[no-untyped-def]
        def run() -> None:
            self.log.append((time.perf_counter(), name))
            action()

        return run

    def describe(self) -> str:
        charts = f", {self.reports} chart updates" if self.curves is not None else ""
        return (
            f"{self.selections} selections, {self.scrolls} scrolls, {self.resizes} resizes{charts}"
        )

    def _report(self) -> None:
        import math

        from engine.training.records import EpochRecord, TrainProgress

        steps, n = 50, self.reports
        epoch, step = n // steps + 1, n % steps + 1
        history = tuple(
            EpochRecord(e, "full", 1 / e, 1 - 1 / (e + 1), 1.1 / e, 1 - 1.2 / (e + 1),
                        1 - 1.2 / (e + 1), 1e-3, 1.0, 100.0, True)
            for e in range(1, epoch)
        )  # fmt: skip
        loss = 1 / epoch + 0.1 * math.sin(n)
        self.curves.add_progress(
            TrainProgress("training", epoch, 99, step, steps, loss, history=history)
        )
        self.reports += 1

    def _select(self) -> None:
        rows = self.window.controller.results.rowCount()
        if rows:
            self.window._select((self.selections * 7) % rows)
            self.selections += 1

    def _scroll(self) -> None:
        bar = self.window.results_view.verticalScrollBar()
        bar.setValue((bar.value() + 400) % max(1, bar.maximum()))
        self.scrolls += 1

    def _resize(self) -> None:
        width = 1280 if self.resizes % 2 else 1100
        self.window.resize(width, 820)
        self.resizes += 1


def _spin(app, done, timeout_s: float, *, quiet: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Run the event loop until ``done()``; after ``timeout_s`` give up (quietly if asked)."""
    deadline = time.perf_counter() + timeout_s
    while not done():
        if time.perf_counter() > deadline:
            if quiet:
                return
            raise TimeoutError("gave up waiting")
        app.processEvents()
        time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--no-charts", action="store_true", help="leave the live charts off")
    parser.add_argument(
        "--planted",
        action="store_true",
        help="plant random weights in a private cache instead of the random-weights demo "
        "(the app then uses ONNX Runtime on the CPU, as for a user with weights)",
    )
    args = parser.parse_args()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load average before: {load}")
    figures = time_to_window(args.startup_runs)
    if figures:
        inside = statistics.median(f[0] for f in figures)
        outside = statistics.median(f[1] for f in figures)
        print(
            f"time to window: {inside:.2f} s in-process, {outside:.2f} s from launch "
            f"(median of {len(figures)})"
        )
    paths = make_photos(ROOT / "bench" / "out" / "gui_1024x768", args.count, (1024, 768))
    weights: str | None = "none"
    if args.planted:
        # Random weights planted as if downloaded: the app then runs as for a real user,
        # ONNX Runtime on the CPU included.
        from bench.pipeline import plant_weights

        home = Path(tempfile.mkdtemp(prefix="reslens-gui-bench-"))
        os.environ.update(TORCH_HOME=str(home / "torch"), RESLENS_CACHE_DIR=str(home / "cache"))
        plant_weights(home / "torch", args.arch)
        weights = None
    run_window(paths, args.arch, weights, charts=not args.no_charts)


if __name__ == "__main__":
    main()
