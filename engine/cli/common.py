"""Options and output shared by the subcommands."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import TextIO

from engine.jobs import Progress
from engine.models.registry import DEFAULT_ARCH
from engine.runtime.classifier import Classifier


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
    group.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    group.add_argument(
        "--backend",
        choices=("torch", "onnx", "auto"),
        default=default_backend,
        help="torch; onnx = ONNX Runtime on a verified export cached after the first run; "
        "auto = onnx unless its parity check fails (default: %(default)s; .onnx files always "
        "use ONNX Runtime)",
    )


def load_from_args(args: argparse.Namespace) -> Classifier:
    from engine.inference.loader import load_classifier

    bar = ProgressBar(sys.stderr, unit="MB")

    def on_download(received: int, total: int | None) -> None:
        bar.update(received / 1e6, None if total is None else total / 1e6, "downloading weights")

    classifier = load_classifier(
        args.model,
        weights=args.weights,
        device=args.device,
        progress=on_download,
        backend=getattr(args, "backend", "torch"),
    )
    bar.close()
    note = getattr(classifier.backend, "provider_note", None)
    if note:
        print(f"onnxruntime: {note}", file=sys.stderr)
    if not classifier.source.pretrained:
        print(
            "warning: random weights: predictions are meaningless (pipeline checks only)",
            file=sys.stderr,
        )
    return classifier


class ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is piped."""

    def __init__(self, stream: TextIO, *, unit: str = "images") -> None:
        self._stream = stream
        self._unit = unit
        self._active = stream.isatty()
        self._drawn = False

    def update(self, done: float, total: float | None, text: str = "") -> None:
        if not self._active:
            return
        width = max(10, min(40, shutil.get_terminal_size().columns - 60))
        if total:
            filled = int(width * min(1.0, done / total))
            bar = "#" * filled + "-" * (width - filled)
            line = f"[{bar}] {done:.0f}/{total:.0f} {self._unit} {text}"
        else:
            line = f"{done:.0f} {self._unit} {text}"
        self._stream.write("\r" + line[: shutil.get_terminal_size().columns - 1].ljust(20))
        self._stream.flush()
        self._drawn = True

    def show(self, progress: Progress) -> None:
        self.update(progress.done, progress.total, progress.describe(self._unit).split("(", 1)[-1])

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
