"""Everything CUDA in one short run: model alone, the classify pipeline, Grad-CAM, AMP training.

    python bench/gpu_check.py            # on a CUDA machine: a few minutes
    python bench/gpu_check.py --smoke    # every section on the CPU at toy sizes (tests it)

Prints, on a CUDA machine: ResNet-50 images/s on ready tensors (fp32 and bf16 or fp16 autocast,
channels_last, batch 32/128/256); the folder pipeline on generated 12 MP and 0.2 MP JPEGs with
the CPU's reduced-size (draft) decode on worker threads against ``torchvision.io.decode_jpeg``
on the GPU; one Grad-CAM map on a 12 MP photo; one epoch of ResNet-18 fine-tuning with AMP;
the parity of ONNX Runtime's providers with PyTorch on CUDA. Without CUDA (and without
``--smoke``) it says so and measures nothing.

Needs only torch, torchvision, pillow, numpy, safetensors, onnx, onnxruntime and ResLens's
engine (no PySide6, pydicom, platformdirs or scikit-image: photos are generated here). Each
section reports its own failure and the run goes on. Random weights throughout: speed does
not depend on them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Sizes:
    """What one run measures: full sizes on CUDA, toy sizes for ``--smoke``."""

    arch: str
    batches: tuple[int, ...]
    iters: int
    big: tuple[int, int, int]  # count, width, height
    small: tuple[int, int, int]
    pipeline_batch: int
    train_images: int
    train_side: int


FULL = Sizes("resnet50", (32, 128, 256), 10, (64, 4000, 3000), (512, 512, 384), 128, 2048, 224)
SMOKE = Sizes("resnet18", (2,), 1, (3, 640, 480), (6, 160, 120), 4, 8, 64)


def photos(folder: Path, count: int, width: int, height: int) -> list[Path]:
    """``count`` photo-like JPEGs (smooth colour fields + sensor noise), written in parallel."""
    folder.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> Path:
        rng = np.random.default_rng(i)
        small = rng.uniform(0, 255, (height // 64 + 2, width // 64 + 2, 3)).astype(np.uint8)
        base = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
        noise = rng.normal(0, 6, (height, width, 3))
        pixels = np.clip(np.asarray(base, np.float32) + noise, 0, 255).astype(np.uint8)
        path = folder / f"photo_{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        return path

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return list(pool.map(one, range(count)))


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def precisions(device: str) -> list[Any]:
    from engine.runtime.precision import FP32, choose_precision, precision_for_this_machine

    if device.startswith("cuda"):
        return [FP32, precision_for_this_machine("cuda")]
    return [FP32, choose_precision("cpu", cpu_flags=frozenset({"avx512_bf16"}))]  # emulated


def model_alone(device: str, sizes: Sizes) -> list[str]:
    """images/s of the network on ready tensors, per precision and batch size."""
    import torch

    from engine.models.registry import build_model
    from engine.runtime.precision import autocast

    model = build_model(sizes.arch).eval().to(device).to(memory_format=torch.channels_last)
    rows = []
    for precision in precisions(device):
        for batch in sizes.batches:
            x = torch.randn(batch, 3, 224, 224, device=device)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), autocast(replace_device(precision, device)):
                model(x)
                synchronize(device)
                start = time.perf_counter()
                for _ in range(sizes.iters):
                    model(x)
                synchronize(device)
            rate = batch * sizes.iters / (time.perf_counter() - start)
            rows.append(f"{sizes.arch} {precision.label} batch {batch}: {rate:.1f} images/s")
    return rows


def replace_device(precision: Any, device: str) -> Any:
    from dataclasses import replace

    return replace(precision, device_type="cuda" if device.startswith("cuda") else "cpu")


def classifier_at(device: str, sizes: Sizes, precision: Any) -> Any:
    """``sizes.arch`` with random weights on the torch backend at ``precision`` autocast."""
    from engine.runtime.backends.torch_backend import TorchBackend
    from engine.runtime.build import load_pretrained_classifier
    from engine.runtime.classifier import Classifier

    base = load_pretrained_classifier(sizes.arch, weights="none", device=device)
    inner = base.backend
    return Classifier(
        TorchBackend(inner.model, inner.cam_layer, device=device, autocast=precision),
        class_names=base.class_names,
        preprocess=base.preprocess,
        source=base.source,
    )


def cpu_decode_pipeline(classifier: Any, paths: list[Path], batch: int) -> float:
    """`reslens classify`'s path: draft decode on worker threads, batches to the device."""
    from engine.inference.batch import classify_files

    workers = max(1, (os.cpu_count() or 2) - 1)
    start = time.perf_counter()
    results = list(classify_files(classifier, paths, batch_size=batch, decode_workers=workers))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    return len(paths) / (time.perf_counter() - start)


def gpu_decode_pipeline(classifier: Any, paths: list[Path], batch: int, device: str) -> float:
    """Full-size JPEG decode with ``torchvision.io.decode_jpeg`` on ``device``, resize and crop
    there; files are read on threads while the device works."""
    import torch
    from torch.nn import functional as F
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    from engine.runtime.precision import autocast

    spec = classifier.preprocess
    mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)

    def prepare(image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        scale = spec.resize / min(h, w)
        size = (max(spec.crop, round(h * scale)), max(spec.crop, round(w * scale)))
        x = F.interpolate(image[None].float(), size=size, mode="bilinear", antialias=True)
        top, left = (size[0] - spec.crop) // 2, (size[1] - spec.crop) // 2
        return x[0, :, top : top + spec.crop, left : left + spec.crop]

    backend = classifier.backend
    chunks = [paths[i : i + batch] for i in range(0, len(paths), batch)]
    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool, torch.inference_mode():
        reads = [pool.submit(lambda c=c: [read_file(str(p)) for p in c]) for c in chunks]
        for future in reads:
            images = decode_jpeg(future.result(), mode=ImageReadMode.RGB, device=device)
            x = (torch.stack([prepare(im) for im in images]) / 255.0 - mean) / std
            with autocast(backend.autocast):
                logits = backend.model(x.contiguous(memory_format=torch.channels_last))
            logits.float().softmax(1).topk(5).indices.cpu()  # what the rows need, back on the host
    synchronize(device)
    return len(paths) / (time.perf_counter() - start)


def pipelines(device: str, sizes: Sizes, work: Path) -> list[str]:
    best = precisions(device)[-1]
    classifier = classifier_at(device, sizes, replace_device(best, device))
    rows = []
    for label, (count, width, height) in (("12 MP", sizes.big), ("0.2 MP", sizes.small)):
        paths = photos(work / label.replace(" ", ""), count, width, height)
        cpu = cpu_decode_pipeline(classifier, paths, sizes.pipeline_batch)
        gpu = gpu_decode_pipeline(classifier, paths, sizes.pipeline_batch, device)
        rows.append(
            f"classify {count} x {label} ({width}x{height}), {best.label}: CPU draft decode "
            f"{cpu:.1f} images/s, decode_jpeg on {device} {gpu:.1f} images/s"
        )
    return rows


def gradcam(device: str, sizes: Sizes, work: Path) -> list[str]:
    from engine.imaging.decode import load_image

    classifier = classifier_at(device, sizes, precisions(device)[0])
    _, width, height = sizes.big
    image = load_image(photos(work / "cam", 1, width, height)[0])
    classifier.explain(image)  # warm-up
    start = time.perf_counter()
    classifier.explain(image)
    return [
        f"Grad-CAM, one {width}x{height} photo, mapped to full size: {time.perf_counter() - start:.3f} s"
    ]


def finetune_epoch(device: str, sizes: Sizes) -> list[str]:
    """One epoch of ResNet-18 fine-tuning at batch 64 with autocast (+ a scaler for fp16)."""
    import torch

    from engine.models.registry import build_model, replace_head
    from engine.runtime.precision import autocast

    precision = replace_device(precisions(device)[-1], device)
    model = build_model("resnet18")
    replace_head(model, "resnet18", 10)
    model = model.to(device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(enabled=precision.needs_grad_scaler)
    side, n = sizes.train_side, sizes.train_images
    data = torch.randn(n, 3, side, side).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (n,))
    batch = min(64, n)
    synchronize(device)
    start = time.perf_counter()
    for i in range(0, n, batch):
        x = data[i : i + batch].to(device, non_blocking=True)
        y = labels[i : i + batch].to(device, non_blocking=True)
        with autocast(precision):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    synchronize(device)
    rate = n / (time.perf_counter() - start)
    return [
        f"ResNet-18 fine-tuning, {n} images at {side} px, {precision.label}: {rate:.1f} images/s"
    ]


def provider_parity(device: str, sizes: Sizes) -> list[str]:
    """ONNX Runtime (CUDA provider where this build has one, else CPU) against PyTorch."""
    from engine.onnx.export import export_verified
    from engine.onnx.parity import batches, compare, generated_images
    from engine.runtime.backends.onnx_backend import OnnxBackend

    reference = classifier_at(device, sizes, precisions(device)[0])
    cpu_copy = classifier_at("cpu", sizes, precisions("cpu")[0])
    cpu_copy.backend.model.load_state_dict(reference.backend.model.state_dict())
    data, export_report = export_verified(cpu_copy)
    rows = [f"export (ORT CPU vs torch CPU): {export_report.describe()}"]
    check = batches(generated_images(32, reference.preprocess.resize, seed=3), reference.preprocess)
    wanted = "auto" if device.startswith("cuda") else "cpu"
    backend = OnnxBackend(data, device=wanted)
    report = compare(
        reference.backend.logits,
        backend.logits,
        check,
        names=(f"torch fp32 on {device}", f"onnxruntime on {backend.device}"),
        image_source="generated images",
    )
    return [*rows, f"{report.describe()} ({backend.provider_note})"]


def section(name: str, run: Callable[[], list[str]]) -> bool:
    print(f"\n== {name}", flush=True)
    start = time.perf_counter()
    try:
        for row in run():
            print(f"  {row}", flush=True)
    except Exception:  # report and go on: a GPU session is too short to stop at one failure
        print(f"  FAILED:\n{traceback.format_exc()}", flush=True)
        return False
    print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU")
    args = parser.parse_args(argv)
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print(
            "CUDA is not available here (torch.cuda.is_available() is False): nothing measured.\n"
            "Run this on a machine with an NVIDIA GPU, or with --smoke to run every section on "
            "the CPU at toy sizes."
        )
        return 0
    device, sizes = ("cpu", SMOKE) if args.smoke else ("cuda", FULL)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke run)"
    print(f"{name}; torch {torch.__version__}, {os.cpu_count()} CPU cores")
    work = Path(tempfile.mkdtemp(prefix="reslens-gpu-check-"))
    os.environ.setdefault("RESLENS_CACHE_DIR", str(work / "cache"))  # no platformdirs needed
    torch.manual_seed(0)
    results = [
        section("model alone on ready tensors", lambda: model_alone(device, sizes)),
        section("folder pipeline", lambda: pipelines(device, sizes, work)),
        section("Grad-CAM", lambda: gradcam(device, sizes, work)),
        section("fine-tuning, one epoch", lambda: finetune_epoch(device, sizes)),
        section("ONNX Runtime provider parity", lambda: provider_parity(device, sizes)),
    ]
    failed = results.count(False)
    print(
        f"\n{len(results) - failed} of {len(results)} sections ran"
        + (f", {failed} failed" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
