"""``reslens evaluate MODEL DATA_DIR``: a saved model's figures on a labelled folder it never
trained on (an external test set): metrics, confusion matrix, per-class table, calibration,
ROC for two classes, and an HTML report beside the model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import ProgressBar


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "evaluate",
        help="measure a trained model on a labelled folder (one subfolder per class)",
        description="Evaluate the .reslens model MODEL on DATA_DIR, a folder with one subfolder "
        "per class named as the model's classes. Files are only read.",
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="a .reslens model file")
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="HTML report to write (default: MODEL's name + .eval-DATA_DIR-name.html, beside it)",
    )
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.set_defaults(func=run)


def default_report_path(model: Path, data_dir: Path) -> Path:
    """``model.reslens`` + ``external/`` -> ``model.eval-external.html`` beside the model."""
    name = data_dir.resolve().name or "data"
    return model.with_name(f"{model.stem}.eval-{name}.html")


def run(args: argparse.Namespace) -> int:
    from engine.cli.exit_codes import EXIT_OK
    from engine.models.model_file import read_model_info
    from engine.training.evaluation import evaluate_model
    from engine.training.report import write_evaluation_report

    read_model_info(args.model)  # a missing or foreign model file fails before the scan
    bar = ProgressBar(sys.stderr)
    result = evaluate_model(
        args.model,
        args.data_dir,
        device=args.device,
        on_progress=lambda p: bar.update(p.done, p.total, "checked"),
    )
    bar.close()
    print(result.summary())
    if not args.no_report:
        path = args.report or default_report_path(args.model, args.data_dir)
        write_evaluation_report(path, result)
        print(f"report: {path}", file=sys.stderr)
    return EXIT_OK
