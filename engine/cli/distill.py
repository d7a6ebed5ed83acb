"""``reslens distill TEACHER DATA --student ARCH --out STUDENT.reslens``: knowledge distillation."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.models.registry import ARCHITECTURES


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "distill",
        help="train a smaller student model to imitate a trained teacher model",
        description="Train STUDENT on DATA (the folder TEACHER was trained on, split exactly as "
        "TEACHER's model file records) with the loss alpha * T^2 * KL(teacher/T || student/T) "
        "+ (1 - alpha) * label loss, and TEACHER's recipe otherwise.",
    )
    parser.add_argument("teacher", type=Path, metavar="TEACHER", help="trained .reslens file")
    parser.add_argument("data_dir", type=Path, metavar="DATA")
    parser.add_argument("--out", type=Path, required=True, help="student model file (.reslens)")
    parser.add_argument("--student", default="resnet18", choices=list(ARCHITECTURES))
    parser.add_argument("--temperature", type=float, default=4.0, help="(default: 4)")
    parser.add_argument(
        "--alpha", type=float, default=0.5, help="share of the teacher's term (default: 0.5)"
    )
    parser.add_argument("--epochs", type=int, help="(default: the teacher's)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--pretrained", dest="pretrained", action="store_true", default=None)
    start.add_argument("--from-scratch", dest="pretrained", action="store_false")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--seed", type=int, help="(default: the teacher's)")
    parser.add_argument(
        "--table", action="store_true", help="measure the deployment table (teacher vs student)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.cli.exit_codes import EXIT_OK
    from engine.cli.variants import finish, print_epoch
    from engine.training.distill import DistillConfig, distill

    try:
        config = DistillConfig(
            student=args.student,
            temperature=args.temperature,
            alpha=args.alpha,
            epochs=args.epochs,
            pretrained=args.pretrained,
            device=args.device,
            seed=args.seed,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    distill(args.teacher, args.data_dir, args.out, config, on_epoch=print_epoch)
    finish(args.teacher, {"student": args.out}, args.data_dir, table=args.table)
    return EXIT_OK
