"""``reslens train DATA_DIR --out model.reslens``: fine-tune on a folder with one subfolder per
class, then use the model with ``reslens classify --model model.reslens``.

Ctrl-C stops after the current step, keeps the best model so far and the state that
``--resume`` continues from; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.cli import validate
from engine.cli.common import ProgressBar
from engine.jobs import CancelToken, format_duration
from engine.models.registry import ARCHITECTURES
from engine.training.health import assess


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "train",
        help="fine-tune a model on a folder with one subfolder per class",
        description="Train a classifier on DATA_DIR (one subfolder per class, or train/ and "
        "val/ folders holding them) and save it as a .reslens model file.",
    )
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    parser.add_argument("--out", type=Path, required=True, help="model file to write (.reslens)")
    parser.add_argument("--arch", default="resnet18", choices=list(ARCHITECTURES))
    parser.add_argument(
        "--epochs", type=validate.positive_int, default=10, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--image-size",
        type=validate.image_size,
        default=224,
        help="input size in pixels; 64-128 trains much faster on small images (default: 224)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.2, help="(default: 0.2)")
    parser.add_argument("--test-fraction", type=float, default=0.0, help="(default: 0)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--pretrained",
        dest="pretrained",
        action="store_true",
        default=None,
        help="start from ImageNet weights, or fail if they are missing "
        "(default: use them when available, else train from scratch)",
    )
    start.add_argument("--from-scratch", dest="pretrained", action="store_false")
    parser.add_argument("--weights", metavar="FILE", help="ImageNet weights file for --arch")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    _add_split_options(parser)
    advanced = parser.add_argument_group("advanced")
    advanced.add_argument("--batch-size", type=int, default=32)
    advanced.add_argument("--lr", type=float, help="learning rate (default: 1e-3 AdamW, 0.01 SGD)")
    advanced.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    advanced.add_argument("--patience", type=int, default=5, help="early stopping; 0 = never")
    advanced.add_argument(
        "--balance", choices=("loss", "sampler", "none"), default="loss", help="for imbalance"
    )
    advanced.add_argument("--label-smoothing", type=float, default=0.1)
    advanced.add_argument("--no-report", action="store_true", help="skip the HTML report")
    advanced.add_argument(
        "--fp32", action="store_true", help="no bf16 autocast / AMP: train in fp32"
    )
    parser.set_defaults(func=run)


def _add_split_options(parser: argparse.ArgumentParser) -> None:
    medical = parser.add_argument_group("splits, model selection and evaluation")
    medical.add_argument(
        "--group-by",
        default="auto",
        metavar="RULE",
        help="keep each group in one split: auto (DICOM PatientID, else StudyInstanceUID, else "
        "the file), dicom:PatientID, dicom:StudyInstanceUID, regex:PATTERN (first capture group "
        "of the relative path) or csv:FILE (rows of path,group) (default: auto)",
    )
    medical.add_argument(
        "--select-by",
        choices=("balanced-accuracy", "accuracy", "loss"),
        default="balanced-accuracy",
        help="validation figure that picks the epoch kept and drives early stopping; ties in "
        "an accuracy go to the lower loss (default: balanced-accuracy)",
    )
    medical.add_argument(
        "--positive",
        metavar="CLASS",
        help="positive class of a two-class set, for sensitivity, specificity and ROC "
        "(default: the class named like positive/abnormal/disease/lesion/tumor/malignant/yes/1 "
        "if exactly one is, else the smaller class)",
    )
    medical.add_argument(
        "--folds",
        type=int,
        default=0,
        metavar="K",
        help="K-fold grouped cross-validation first (mean ± sd per figure), then the final "
        "model on all training data (default: 0, a single split)",
    )


def config_from_args(args: argparse.Namespace) -> Any:
    from engine.training.records import TrainConfig

    try:
        return TrainConfig(
            arch=args.arch,
            epochs=args.epochs,
            image_size=args.image_size,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            label_smoothing=args.label_smoothing,
            pretrained=args.pretrained,
            weights_file=args.weights,
            balance=args.balance,
            patience=args.patience,
            val_fraction=args.val_fraction,
            test_fraction=args.test_fraction,
            seed=args.seed,
            device=args.device,
            reduced_precision=not args.fp32,
            select_by=args.select_by,
            group_by=args.group_by,
            positive=args.positive,
            folds=args.folds,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Train; under torchrun each process runs this, rank 0 alone printing and writing."""
    from engine.training.distributed import joined

    with joined(args.device):
        return _train(args)


def _train(args: argparse.Namespace) -> int:
    from engine.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK
    from engine.training.recipe import resolve_start
    from engine.training.run import train
    from engine.training.scan import scan_dataset
    from engine.training.splits import split_csv_path

    config = config_from_args(args)
    bar = ProgressBar(sys.stderr)
    scan = scan_dataset(
        args.data_dir,
        on_progress=lambda p: bar.update(p.done, p.total, "checked"),
        group_by=config.group_by,
    )
    bar.close()
    health = assess(scan)
    print(health.describe(), file=sys.stderr)
    health.raise_if_unusable()
    start = None
    if not args.resume:
        start = resolve_start(config, progress=_download_bar())
        if not start.pretrained and config.pretrained is None:
            print(f"warning: {start.note}", file=sys.stderr)
    cancel = CancelToken()
    with _stop_on_ctrl_c(cancel):
        result = train(
            scan, args.out, config, resume=args.resume, start=start, cancel=cancel,
            on_progress=_Printer(sys.stderr), write_report=not args.no_report,
        )  # fmt: skip
    print(result.summary())
    print(f"model saved to {result.model_path}", file=sys.stderr)
    print(f"split: {split_csv_path(result.model_path)}", file=sys.stderr)
    if result.report_path is not None:
        print(f"report: {result.report_path}", file=sys.stderr)
    if result.stopped == "cancelled":
        print(
            f"cancelled: the best model so far (epoch {result.best_epoch}) is saved; "
            "continue with the same command and --resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_OK


def _download_bar() -> Any:
    bar = ProgressBar(sys.stderr, unit="MB")

    def show(received: int, total: int | None) -> None:
        bar.update(received / 1e6, None if total is None else total / 1e6, "downloading weights")
        if total is not None and received >= total:
            bar.close()

    return show


class _Printer:
    """Progress bar within an epoch, one line per finished epoch."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._bar = ProgressBar(stream, unit="steps")

    def __call__(self, progress: Any) -> None:
        if progress.phase in ("preparing", "training"):
            self._bar.update(progress.step, progress.steps, progress.describe())
        elif progress.phase == "epoch" and progress.history:
            self._bar.close()
            print(
                _epoch_line(progress.history[-1], progress.epochs, progress.eta_s),
                file=self._stream,
            )
        elif progress.phase == "finished":
            self._bar.close()


def _epoch_line(record: Any, epochs: int, eta_s: float | None) -> str:
    mark = " *" if record.improved else ""
    eta = f", {format_duration(eta_s)} left" if eta_s is not None else ""
    return (
        f"epoch {record.epoch}/{epochs} ({record.phase}): train loss {record.train_loss:.4f} "
        f"acc {record.train_accuracy:.3f} | val loss {record.val_loss:.4f} "
        f"acc {record.val_accuracy:.3f}{mark} | {record.images_per_s:.1f} images/s, "
        f"{record.seconds:.1f} s{eta}"
    )


@contextmanager
def _stop_on_ctrl_c(cancel: CancelToken) -> Iterator[None]:
    """First Ctrl-C: cancel between steps. Second: the usual KeyboardInterrupt. A second one
    within a second is the same press: torchrun passes the terminal's Ctrl-C on to workers
    that got it already."""
    first = [0.0]

    def handler(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            if time.monotonic() - first[0] > 1.0:
                raise KeyboardInterrupt
            return
        first[0] = time.monotonic()
        cancel.cancel()
        print("\nstopping after this step (Ctrl-C again to abort)", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no signal handling there
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
