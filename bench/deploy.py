"""Smaller and faster models on real photographs: teacher, distilled student, pruned student, INT8.

    .venv/bin/python bench/deploy.py [--teacher resnet50] [--student resnet18] [--epochs 8]
                                     [--image-size 64] [--per-class 80] [--ratio 0.5]

Data: the texture patches of ``bench/train_textures.py`` (five classes cut from photos that ship
with scikit-image; training patches from the top three quarters of each photo, validation
patches from the bottom quarter). Steps, each exactly what the CLI runs:

1. ``reslens train``: the teacher from scratch (random initial weights; no download);
2. ``reslens distill``: the student from the teacher (T=4, alpha=0.5), and for comparison the
   same student with the same recipe and no teacher (alpha=0: labels only);
3. ``reslens prune``: half the student's channels removed, then a short fine-tune;
4. ``reslens export --quantize int8``: the pruned student as static INT8 ONNX, calibrated on
   the training patches;
5. the deployment table (:mod:`engine.training.deployment`) on the validation patches: file
   size, parameters, GFLOPs, ONNX Runtime images/s at batch 1 and 32, accuracy, top-1
   agreement with the teacher.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.train_textures import make_patches  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default="resnet50")
    parser.add_argument("--student", default="resnet18")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=80)
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--prune-epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    import torch

    from engine.onnx.pipeline import export_model
    from engine.training.deployment import deployment_table, record_table, table_text
    from engine.training.distill import DistillConfig, distill
    from engine.training.prune import PruneConfig, prune
    from engine.training.records import TrainConfig
    from engine.training.run import train

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = ROOT / "bench" / "out" / f"textures-{args.per_class}"
    data = make_patches(folder, per_class=args.per_class)
    out = ROOT / "bench" / "out" / "deploy"
    out.mkdir(parents=True, exist_ok=True)
    teacher, student = out / "teacher.reslens", out / "student.reslens"
    alone, pruned, int8 = out / "no-teacher.reslens", out / "pruned.reslens", out / "int8.onnx"
    seconds: dict[str, float] = {}

    def step(name: str, run: object) -> None:
        start = time.perf_counter()
        result = run()  # type: ignore[operator]
        seconds[name] = time.perf_counter() - start
        summary = getattr(result, "metrics", None)
        print(
            f"{name}: {seconds[name]:.0f} s"
            + (f", val accuracy {summary.accuracy:.3f}" if summary is not None else ""),
            flush=True,
        )

    config = TrainConfig(
        arch=args.teacher, epochs=args.epochs, image_size=args.image_size, pretrained=False,
        patience=0, device="cpu",
    )  # fmt: skip
    step("teacher", lambda: train(data, teacher, config))
    kd = DistillConfig(student=args.student, pretrained=False, device="cpu")
    step("student", lambda: distill(teacher, data, student, kd))
    plain = DistillConfig(student=args.student, alpha=0.0, pretrained=False, device="cpu")
    step("no teacher", lambda: distill(teacher, data, alone, plain))
    cut = PruneConfig(ratio=args.ratio, epochs=args.prune_epochs, device="cpu")
    step("pruned", lambda: prune(student, data, pruned, cut))
    step("int8", lambda: export_model(pruned, int8, quantize="int8", calibration=data / "train"))
    variants = {
        f"{args.student} no teacher": alone,
        f"{args.student} distilled": student,
        f"pruned {args.ratio:.0%}": pruned,
        "pruned + INT8": int8,
    }
    rows = deployment_table(teacher, variants, data)
    for path in (student, pruned, alone):
        record_table(path, rows)
    print()
    print(
        f"{args.teacher} teacher vs variants; {args.image_size} px, {args.epochs} epochs, "
        f"{torch.get_num_threads()} torch threads; ONNX Runtime CPU"
    )
    print(table_text(rows).replace("original", f"{args.teacher} teacher"))
    print("\nwall time per step: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
