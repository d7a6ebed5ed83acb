"""End-to-end folder classification against the naive loop and the model alone.

    .venv/bin/python bench/pipeline.py [--count 200] [--arch resnet50]

Generates 12 MP JPEGs once (bench/out/), plants random ResNet weights in a private torch cache
(as if downloaded, so the app runs exactly as for a user with cached weights), then prints one
table from one run: the naive tutorial loop, `reslens classify` as a whole process, the model
alone on ready tensors, peak memory, start-up and Grad-CAM time.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.data import make_photos  # noqa: E402


def plant_weights(torch_home: Path, arch: str) -> None:
    import torch

    from engine.models import build_model
    from engine.weights import weights_filename

    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / weights_filename(arch)
    if not target.exists():
        torch.manual_seed(0)
        torch.save(build_model(arch).state_dict(), target)


def naive_loop(paths: list[Path], arch: str) -> float:
    """The tutorial way: open, full decode, Resize(256)/CenterCrop, model on one image."""
    import torch
    from PIL import Image
    from torchvision import transforms as T

    from engine.models import build_model

    model = build_model(arch).eval()
    transform = T.Compose(
        [
            T.Resize(256),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    start = time.perf_counter()
    with torch.no_grad():
        for path in paths:
            image = Image.open(path).convert("RGB")
            model(transform(image).unsqueeze(0)).softmax(1).topk(5)
    return len(paths) / (time.perf_counter() - start)


def torch_model_alone(arch: str, batch: int = 16, seconds: float = 20.0) -> float:
    import numpy as np

    from engine.backends.torch_backend import TorchBackend
    from engine.models import build_model, cam_target_layer

    model = build_model(arch)
    backend = TorchBackend(model, cam_target_layer(model, arch), device="cpu")
    data = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    backend.logits(data)  # warm-up: oneDNN picks kernels on the first call
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        backend.logits(data)
        done += batch
    return done / (time.perf_counter() - start)


def run_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024, proc.returncode


def gradcam_seconds(path: Path, arch: str, torch_home: Path) -> float:
    os.environ["TORCH_HOME"] = str(torch_home)
    from engine.images import load_image
    from engine.loader import load_classifier

    classifier = load_classifier(arch, device="cpu", allow_download=False)
    image = load_image(path)
    classifier.explain(image)  # warm-up
    start = time.perf_counter()
    classifier.explain(image)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    paths = make_photos(ROOT / "bench" / "out" / "12mp", args.count, (4000, 3000))
    torch_home = Path(tempfile.gettempdir()) / "reslens-bench-torch-home"
    plant_weights(torch_home, args.arch)
    env = {**os.environ, "TORCH_HOME": str(torch_home)}
    reslens = str(Path(sys.executable).with_name("reslens"))
    out = Path(tempfile.mkdtemp()) / "results.csv"

    rows: list[tuple[str, str]] = []
    wall, rss, _ = run_process(
        [reslens, "classify", str(paths[0]), "--model", args.arch, "--out", str(out)], env
    )
    rows.append(("reslens classify, one image, cached weights (s)", f"{wall:.2f}"))
    wall, rss, _ = run_process(
        [reslens, "classify", str(paths[0].parent), "--model", args.arch, "--out", str(out)], env
    )
    classify_rate = len(paths) / wall
    rows.append(
        (f"reslens classify, {len(paths)} x 12 MP, whole process (img/s)", f"{classify_rate:.2f}")
    )
    rows.append(("  peak RSS of that process (MB)", f"{rss:.0f}"))
    model_rate = torch_model_alone(args.arch)
    rows.append(("model alone, torch eager, batch 16, ready tensors (img/s)", f"{model_rate:.2f}"))
    if not args.skip_naive:
        naive = naive_loop(paths, args.arch)
        rows.append(("naive tutorial loop (img/s)", f"{naive:.2f}"))
        rows.append(("classify / naive", f"{classify_rate / naive:.2f}x"))
    rows.append(("classify / model alone", f"{classify_rate / model_rate:.2f}"))
    rows.append(
        (
            "Grad-CAM, one 12 MP photo, torch (s)",
            f"{gradcam_seconds(paths[0], args.arch, torch_home):.2f}",
        )
    )

    print(
        f"\n{args.arch}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>8}")


if __name__ == "__main__":
    main()
