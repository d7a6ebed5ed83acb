"""End-to-end folder classification against the naive loop and the model alone.

    .venv/bin/python bench/pipeline.py [--count 200] [--arch resnet50]

Generates 12 MP JPEGs once (bench/out/), plants random ResNet weights in a private torch cache
(as if downloaded, so the app runs exactly as for a user with cached weights), then prints one
table from one run: the naive tutorial loop, `reslens classify` as a whole process (and its
steady state: the whole folder less a run on its first fifth), the model alone on ready
tensors, the bound decoding and the model sharing the cores set, peak memory, start-up and
Grad-CAM time.
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

    from engine.models.registry import build_model
    from engine.models.weights import weights_filename

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

    from engine.models.registry import build_model

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


def model_alone(arch: str, int8_path: Path, rounds: int = 2) -> dict[str, float]:
    """img/s of each backend on ready tensors (batch 16), best of interleaved rounds."""
    from bench.backends import images_per_second, torch_classifier
    from engine.onnx.export import export_verified
    from engine.runtime.backends.onnx_backend import OnnxBackend

    classifier = torch_classifier(arch)
    fp32, _ = export_verified(classifier)
    runs = {
        "torch eager": classifier.backend.logits,
        "ONNX Runtime fp32": OnnxBackend(fp32, device="cpu").logits,
        "ONNX Runtime INT8": OnnxBackend(str(int8_path), device="cpu").logits,
    }
    best = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = max(best[name], images_per_second(run, 16, 4))
    return best


def decode_seconds(paths: list[Path], resize: int = 256, crop: int = 224) -> float:
    """Seconds of one core to decode (draft mode) and preprocess one photo, as classify does."""
    from engine.imaging.decode import load_image
    from engine.imaging.preprocess import PreprocessSpec

    spec = PreprocessSpec(resize=resize, crop=crop)
    sample = paths[: min(12, len(paths))]
    spec.to_array(load_image(sample[0], min_side=resize))  # warm-up
    start = time.perf_counter()
    for path in sample:
        spec.to_array(load_image(path, min_side=resize))
    return (time.perf_counter() - start) / len(sample)


def bound(decode_s: float, model_rate: float, model_threads: int, cores: int) -> float:
    """images/s when decoding and the model share ``cores``: each image costs ``decode_s`` of
    one core plus ``model_threads / model_rate`` core-seconds of inference."""
    return cores / (decode_s + model_threads / model_rate)


def run_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB, what it wrote to stderr)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed:\n{stderr}")
    return wall, usage.ru_maxrss / 1024, stderr


def balance_line(stderr: str) -> str:
    """What the decoder balance settled on, from a `--debug` run's log."""
    lines = [line for line in stderr.splitlines() if "decoding:" in line]
    return lines[-1].split("decoding:", 1)[1].strip() if lines else "not logged"


def gradcam_seconds(path: Path, arch: str, backend: str) -> float:
    """One Grad-CAM map for the photo at ``path``, mapped back to its full size."""
    from engine.imaging.decode import load_image
    from engine.inference.loader import load_classifier

    classifier = load_classifier(arch, device="cpu", allow_download=False, backend=backend)
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
    folder = str(paths[0].parent)
    work = Path(tempfile.mkdtemp(prefix="reslens-bench-"))
    torch_home = work / "torch_home"
    plant_weights(torch_home, args.arch)
    env = {
        **os.environ,
        "TORCH_HOME": str(torch_home),
        "RESLENS_CACHE_DIR": str(work / "cache"),
        "PYTHONPATH": str(ROOT),  # this checkout, whatever the installed reslens points at
    }
    os.environ.update(env)
    reslens = str(Path(sys.executable).with_name("reslens"))
    out = str(work / "results.csv")
    classify = [reslens, "classify", "--model", args.arch, "--out", out]
    int8 = work / "int8.onnx"

    rows: list[tuple[str, str]] = []

    def add(name: str, value: float, fmt: str = ".2f") -> None:
        rows.append((name, format(value, fmt)))

    wall, _, _ = run_process([*classify, str(paths[0])], env)
    add("first classify, 1 image (exports, verifies and tunes once) s", wall)
    wall, _, _ = run_process([*classify, str(paths[0])], env)
    add("classify, 1 image, warm (weights + ONNX cached) s", wall)
    start = time.perf_counter()
    run_process([reslens, "export", args.arch, "--quantize", "int8", "--out", str(int8)], env)
    add("export --quantize int8 (s)", time.perf_counter() - start)

    rates: dict[str, float] = {}
    balance: dict[str, str] = {}
    steady: dict[str, float] = {}
    for name, extra in (
        ("default (auto: tuned backend)", []),
        ("--backend torch", ["--backend", "torch"]),
        ("--model int8.onnx", ["--model", str(int8)]),
    ):
        wall, rss, stderr = run_process([*classify, *extra, "--debug", folder], env)
        rates[name] = len(paths) / wall
        balance[name] = balance_line(stderr)
        add(f"classify {len(paths)} x 12 MP, {name}, img/s", rates[name])
        add("  peak RSS (MB)", rss, ".0f")
        # The same on the first fifth: the difference is the steady state, without start-up,
        # the pipeline filling, the first batch's allocations and the last partial batch.
        few = max(1, len(paths) // 5)
        head = [reslens, "classify", "--model", args.arch, "--out", str(work / "head.csv")]
        wall_few, _, _ = run_process([*head, *extra, *map(str, paths[:few])], env)
        steady[name] = (len(paths) - few) / max(wall - wall_few, 1e-9)
        add(f"  steady state ({len(paths)} less the first {few}), img/s", steady[name])
    alone = model_alone(args.arch, int8)
    for name, rate in alone.items():
        add(f"model alone, {name}, batch 16, img/s", rate)
    naive = 0.0 if args.skip_naive else naive_loop(paths, args.arch)
    if naive:
        add("naive tutorial loop, img/s", naive)
    pairs = (
        ("default (auto: tuned backend)", "ONNX Runtime fp32"),
        ("--backend torch", "torch eager"),
        ("--model int8.onnx", "ONNX Runtime INT8"),
    )
    for name, backend in pairs:
        if naive:
            rows.append((f"ratio classify {name} / naive", f"{rates[name] / naive:.2f}x"))
        rows.append(
            (f"ratio classify {name} / {backend} alone", f"{rates[name] / alone[backend]:.2f}")
        )
    cores = len(os.sched_getaffinity(0))
    decode_s = decode_seconds(paths)
    add("draft decode + preprocess, one core, ms/image", decode_s * 1000, ".1f")
    from engine.runtime.backends.onnx_backend import default_threads

    for name, backend, threads in (
        ("default (auto: tuned backend)", "ONNX Runtime fp32", default_threads()),
        ("--backend torch", "torch eager", cores),
        ("--model int8.onnx", "ONNX Runtime INT8", default_threads()),
    ):
        limit = bound(decode_s, alone[backend], threads, cores)
        add(f"bound (decode + {backend} sharing {cores} cores), img/s", limit)
        rows.append((f"ratio classify {name} / bound", f"{rates[name] / limit:.2f}"))
        rows.append((f"ratio steady state {name} / bound", f"{steady[name] / limit:.2f}"))
    add("Grad-CAM, one 12 MP photo, torch (s)", gradcam_seconds(paths[0], args.arch, "torch"))
    add("Grad-CAM, one 12 MP photo, ONNX Runtime (s)", gradcam_seconds(paths[0], args.arch, "onnx"))

    from bench.backends import cpu_name

    doctor = subprocess.run(
        [reslens, "doctor", "--model", args.arch], env=env, capture_output=True, text=True
    )
    print("\ndecoder balance each folder run settled on (`--debug` log):")
    for name, line in balance.items():
        print(f"  {name}: {line}")
    print(f"\n`reslens doctor --model {args.arch}` (the tuning the first classify made):")
    print(doctor.stdout.strip() or doctor.stderr.strip())
    print(
        f"\n{args.arch}, {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>8}")


if __name__ == "__main__":
    main()
