"""Options and output shared by the subcommands."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

import engine.cli.validate as validate
from engine.errors import EngineError
from engine.jobs import Progress
from engine.models.registry import DEFAULT_ARCH, get_architecture
from engine.runtime.classifier import Classifier


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """``--verbose``/``--debug`` after the subcommand too (SUPPRESS keeps the top-level value)."""
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
        help="say more: which runtime and provider run the model, what is cached",
    )  # fmt: skip
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )  # fmt: skip


def add_model_options(parser: argparse.ArgumentParser, *, default_backend: str = "torch") -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=DEFAULT_ARCH,
        help="architecture (resnet18/34/50/101/152, densenet121) or a model file (default: %(default)s)",
    )
    group.add_argument(
        "--weights",
        metavar="FILE|none",
        help="pretrained weights file for the architecture; 'none' = random init (benchmarks only)",
    )
    group.add_argument(
        "--device",
        default="auto",
        type=validate.device,
        help="auto, cpu, cuda or cuda:N (default: %(default)s)",
    )
    group.add_argument(
        "--backend",
        choices=("torch", "onnx", "auto"),
        default=default_backend,
        help="torch; onnx = ONNX Runtime on a verified export cached after the first run; "
        "auto = onnx unless its parity check fails (default: %(default)s; .onnx files always "
        "use ONNX Runtime)",
    )


def model_name(model: str | Path) -> str:
    """What to call the model in messages: "ResNet-50" or the model file's name."""
    try:
        return get_architecture(str(model)).display_name
    except EngineError:  # a model file, or a name the loader will reject with its own message
        return Path(model).name


def load_from_args(args: argparse.Namespace) -> Classifier:
    from engine.inference.loader import load_classifier

    bar = ProgressBar(sys.stderr, unit="MB")

    def on_download(received: int, total: int | None) -> None:
        bar.update(received / 1e6, None if total is None else total / 1e6, "downloading weights")

    try:
        with export_notice(model_name(args.model), sys.stderr):
            classifier = load_classifier(
                args.model,
                weights=args.weights,
                device=args.device,
                progress=on_download,
                backend=getattr(args, "backend", "torch"),
            )
    finally:
        bar.close()
    if not classifier.source.pretrained:
        print(
            "warning: random weights: predictions are meaningless (pipeline checks only)",
            file=sys.stderr,
        )
    return classifier


class _ExportNotice(logging.Handler):
    """Turns the export cache's log records into words for the user, once per export."""

    def __init__(self, name: str, stream: TextIO) -> None:
        super().__init__(logging.INFO)
        self._name, self._stream, self._start = name, stream, 0.0

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        if message.startswith("exporting"):
            self._start = time.perf_counter()
            self._stream.write(f"preparing a verified ONNX Runtime copy of {self._name} (once)…\n")
        elif message.startswith("cached %s") and self._start:
            seconds = time.perf_counter() - self._start
            self._stream.write(f"ONNX Runtime copy ready and checked ({seconds:.0f} s)\n")
        self._stream.flush()


@contextmanager
def export_notice(name: str, stream: TextIO) -> Iterator[None]:
    """Say so while a model's one-time ONNX export and parity check run."""
    logger = logging.getLogger("engine.onnx.cache")
    handler, level = _ExportNotice(name, stream), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)  # the root handler still shows only what the user chose
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class ProgressBar:
    """One progress line that updates in place on a terminal; silent when the stream is not
    a terminal (piped, redirected to a file). Built on tqdm."""

    def __init__(self, stream: TextIO, *, unit: str = "images") -> None:
        self._stream = stream
        self._unit = unit
        self._enabled = _is_tty(stream)
        self._bar: Any = None

    @property
    def active(self) -> bool:
        return self._bar is not None

    def update(self, done: float, total: float | None, text: str = "") -> None:
        if not self._enabled:
            return
        if self._bar is None:
            self._bar = tqdm(
                total=total, file=self._stream, unit=f" {self._unit}", dynamic_ncols=True,
                leave=False, bar_format=_FORMAT if total else None,
            )  # fmt: skip
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        if text:
            self._bar.set_description_str(text, refresh=False)
        self._bar.refresh()

    def show(self, progress: Progress, text: str = "") -> None:
        failed = f"{progress.failed} failed" if progress.failed else ""
        self.update(progress.done, progress.total, text or failed)

    def write(self, line: str, stream: TextIO) -> None:
        """Print ``line`` to ``stream`` without tearing the bar."""
        if self._bar is None:
            print(line, file=stream)
        else:
            self._bar.write(line, file=stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


_FORMAT = (
    "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_fmt}]"
)


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
