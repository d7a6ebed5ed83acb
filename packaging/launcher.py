"""Entry script of the packaged app (``dist/ResLens/ResLens``); PyInstaller freezes this file.

In this order: ``multiprocessing.freeze_support()`` (a frozen child process must not start a
second app); standard streams for a windowed app, where they are None and torch's download
progress or tqdm would crash on ``None.write``; in the CPU bundle, GPUs hidden from torch (it
lacks the libraries a GPU run loads); then ``--version`` and ``--self-test``; otherwise the
desktop app, ``gui.app.main()``.

``--self-test`` exits 0 with a one-line summary on stdout, or 1 with the summary naming what
failed. Details go to the log file (``--self-test`` prints its path). It runs offscreen: no
window appears, and it works on a machine without a display.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from pathlib import Path
from typing import TextIO

APP_NAME = "ResLens"
LOG_NAME = "reslens.log"


def log_dir() -> Path:
    """The user's log folder for ResLens (e.g. ``~/.local/state/ResLens/log`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME, APP_NAME))


def _open_log() -> TextIO:
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # Line-buffered and never raising on odd characters: it stands in for a console.
    return open(folder / LOG_NAME, "a", encoding="utf-8", errors="replace", buffering=1)


def _attach_windows_console() -> bool:
    """A windowed .exe run from a terminal: write to that terminal (for --version/--self-test)."""
    if sys.platform != "win32":
        return False
    import ctypes

    if not ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
        return False
    sys.stdout = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
    sys.stderr = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
    return True


def fix_std_streams(argv: list[str]) -> None:
    """Give a windowed app real ``sys.stdout``/``sys.stderr`` (None there): the parent's
    console for a command-line flag on Windows, otherwise the log file."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    if any(a in ("--version", "--self-test") for a in argv) and _attach_windows_console():
        return
    stream = _open_log()
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream


def bundle_variant() -> str | None:
    """ "cpu" or "cuda" in the packaged app (from its bundle.json), None when run from source."""
    root = getattr(sys, "_MEIPASS", None)
    if root is None:
        return None
    try:
        return str(json.loads((Path(root) / "bundle.json").read_text())["variant"])
    except (OSError, ValueError, KeyError):
        return None


def hide_gpus_in_cpu_bundle() -> None:
    """The CPU bundle lacks cuDNN's engines and cuSOLVER: on a machine with an NVIDIA GPU,
    torch would offer CUDA and then fail. Hide the GPUs before torch is imported."""
    if bundle_variant() == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def print_version() -> int:
    from engine.selftest import describe_versions

    variant = bundle_variant()
    print(describe_versions() + (f" [{variant.upper()} bundle]" if variant else ""))
    return 0


def self_test() -> int:
    """Window check (offscreen), then the engine's checks; 0 when all passed."""
    import logging

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not _has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    log_file = log_dir() / LOG_NAME
    log_dir().mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        filename=log_file,
        encoding="utf-8",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from engine.selftest import SelfTestReport, describe_versions, run_selftest
    from gui.selftest import check_window

    window = check_window()  # first, as in the app: Qt and the window before torch
    report = SelfTestReport((window,), window.seconds).plus(*run_selftest().checks)
    logging.getLogger("reslens.selftest").info(
        "%s\n%s\n%s", describe_versions(), "\n".join(report.lines()), report.summary()
    )
    print(report.summary(), flush=True)
    print(f"details: {log_file}", flush=True)
    return 0 if report.ok else 1


def install_startup_probe() -> None:
    """For packaging/measure_startup.py: print a line when the window is up (its first event
    loop turn) and when the first file has been classified."""
    import time

    from gui.main_window import MainWindow
    from gui.results_model import RowState

    start_window = MainWindow.start

    def report(event: str) -> None:
        print(f"reslens-probe {event} {time.perf_counter():.3f}", flush=True)

    def start(window: MainWindow) -> None:
        report("window")
        results = window.controller.results

        def on_change(*_: object) -> None:
            if any(results.state(row) == RowState.CLASSIFIED for row in range(results.rowCount())):
                results.dataChanged.disconnect(on_change)
                report("first-prediction")

        results.dataChanged.connect(on_change)
        start_window(window)

    MainWindow.start = start  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    fix_std_streams(args)
    hide_gpus_in_cpu_bundle()
    if "--version" in args:
        return print_version()
    if "--self-test" in args:
        return self_test()
    if "--startup-probe" in args:
        args = [a for a in args if a != "--startup-probe"]
        install_startup_probe()
    from gui.app import main as gui_main

    return gui_main(args)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
