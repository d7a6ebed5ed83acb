"""The deployment table: for each variant of one model (fp32, distilled, pruned, INT8 ONNX),
its file size, parameters, GFLOPs, measured images/s, validation accuracy and top-1 agreement
with the original, all on the original's validation split.

Speed is ONNX Runtime on the CPU (the backend the app uses there): a ``.reslens`` variant is
exported (and parity-checked) in memory first, an ``.onnx`` one runs as it is. Batch 1 is the
median of single-image runs, batch 32 the median of full-batch runs, after one warm-up each.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_write_text
from engine.imaging.decode import load_image
from engine.models.info import deployment_lines, model_facts
from engine.models.model_file import read_model_info
from engine.runtime.backends.onnx_backend import OnnxBackend
from engine.training.outputs import report_path
from engine.training.tuning import amend_card, recorded_data

BATCH = 32


def validation_batch(original: Path, data: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The original model's validation images float32 (N, 3, crop, crop) and labels (N,)."""
    info = read_model_info(original)
    recorded = recorded_data(data, info.extra, original.name)
    images = [load_image(s.path, min_side=info.preprocess.resize) for s in recorded.split.val]
    labels = np.asarray([s.label for s in recorded.split.val], dtype=np.int64)
    return info.preprocess.to_batch(images), labels


def onnx_backend(model: Path, threads: int | None = None) -> OnnxBackend:
    """ONNX Runtime on the CPU for an ``.onnx`` file, or for a verified in-memory export."""
    if model.suffix.lower() == ".onnx":
        return OnnxBackend(model, device="cpu", threads=threads)
    from engine.onnx.export import export_verified
    from engine.runtime.build import load_model_classifier

    data, _ = export_verified(load_model_classifier(model, device="cpu"))
    return OnnxBackend(data, device="cpu", threads=threads)


def images_per_s(backend: OnnxBackend, batch: np.ndarray, *, repeats: int = 5) -> float:
    """Median images/s of ``repeats`` runs on ``batch`` after one warm-up run."""
    backend.logits(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.logits(batch)
        times.append(time.perf_counter() - start)
    return len(batch) / statistics.median(times)


def measure(
    variant: str,
    model: Path,
    pixels: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray | None,
    *,
    repeats: int = 5,
) -> dict[str, Any]:
    """One table row. ``reference``: the original's top-1 classes (N,), None for the original."""
    facts = model_facts(model)
    backend = onnx_backend(model)
    logits = np.concatenate(
        [backend.logits(pixels[i : i + BATCH]) for i in range(0, len(pixels), BATCH)]
    )
    top1 = logits.argmax(axis=1)
    full = np.resize(pixels, (BATCH, *pixels.shape[1:]))  # repeat images to fill a batch
    return {
        "variant": variant,
        "file": model.name,
        "size_mb": model.stat().st_size / 1e6,
        "params_m": facts.anatomy.params / 1e6,
        "gflops": facts.anatomy.gflops,
        "ips_1": images_per_s(backend, pixels[:1], repeats=repeats * 4),
        "ips_32": images_per_s(backend, full, repeats=repeats),
        "val_accuracy": float(np.mean(top1 == labels)),
        "agreement": 1.0 if reference is None else float(np.mean(top1 == reference)),
        "top1": top1.tolist(),
    }


def deployment_table(
    original: Path, variants: Mapping[str, Path], data: str | Path, *, repeats: int = 5
) -> list[dict[str, Any]]:
    """Rows for ``original`` (variant "original") and each of ``variants`` (name -> file)."""
    pixels, labels = validation_batch(original, data)
    rows = [measure("original", original, pixels, labels, None, repeats=repeats)]
    reference = np.asarray(rows[0]["top1"])
    for name, path in variants.items():
        rows.append(measure(name, path, pixels, labels, reference, repeats=repeats))
    for row in rows:
        del row["top1"]
    return rows


def record_table(model: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store ``rows`` in ``model``'s metadata (``reslens info`` shows them) and in its HTML
    report when it has one; both rewritten atomically."""
    amend_card(model, extra={"deployment": [dict(r) for r in rows]})
    report = report_path(model)
    if report.is_file():
        html = report.read_text(encoding="utf-8")
        html = html.split(_SECTION)[0].replace("</body>", "")
        atomic_write_text(report, html + table_html(rows) + "</body>\n")


def table_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The table as an HTML section for the training report."""
    head = "".join(f"<th>{escape(h)}</th>" for h in _COLUMNS.values())
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(r, key))}</td>" for key in _COLUMNS) + "</tr>"
        for r in rows
    )
    note = "Images/s: ONNX Runtime on this machine's CPU; agreement: top-1 with the original."
    return f"{_SECTION}<h2>Deployment</h2><table><tr>{head}</tr>{body}</table><p>{note}</p>"


def _cell(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if key.startswith("ips") else f"{value:.3f}"
    return str(value)


_SECTION = "<!-- deployment -->"
_COLUMNS = {
    "variant": "variant",
    "file": "file",
    "size_mb": "MB",
    "params_m": "parameters (M)",
    "gflops": "GFLOPs",
    "ips_1": "img/s batch 1",
    "ips_32": "img/s batch 32",
    "val_accuracy": "val accuracy",
    "agreement": "agreement",
}


def table_text(rows: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(deployment_lines(tuple(rows)))
