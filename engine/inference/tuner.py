"""Pick the fastest backend this machine runs a model on, and use it only once it is verified.

Candidates (see :func:`plan`): ONNX Runtime fp32 on the verified export; PyTorch fp32 (the
reference every other candidate is checked against); PyTorch bf16 autocast where the CPU has
AMX-BF16 or AVX512-BF16 (or a CUDA GPU: bf16, else fp16); on a GPU, ONNX Runtime fp32 runs
its CUDA provider, and its TensorRT provider is a candidate where TensorRT's libraries are
installed; ONNX Runtime INT8 only when the user allows it (``--fast``: it changes probabilities slightly). Each candidate runs the
verification images (a model file's validation split, else generated photos: a few batches),
which gives both its speed and its agreement with fp32; one beyond :data:`TUNING_TOLERANCE` is
refused, with its figures, and never used. The decisions (:func:`plan`, :func:`choose`) are
pure functions, so tests give them CPU flags and figures.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.onnx.parity import ParityReport, Tolerance, compare
from engine.runtime.machine import bf16_support

log = logging.getLogger(__name__)

TUNING_TOLERANCE = Tolerance(max_prob_diff=0.05, min_top1_agreement=0.995)
"""A candidate is used only if it agrees with fp32 on the top-1 class of at least 99.5% of the
verification images and moves no class probability by more than 0.05."""
BASELINE = "onnxruntime fp32"
"""The default when nothing is clearly faster: verified at export, and it starts without torch."""
BASELINE_MARGIN = 1.15
"""Another candidate replaces the baseline only when this much faster (beyond run-to-run noise;
the baseline also starts seconds sooner, without importing torch)."""
REFERENCE = "torch fp32"
TENSORRT = "onnxruntime tensorrt"

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Offer:
    """A candidate and why it is (or is not) tried on this machine."""

    name: str
    reason: str


@dataclass(frozen=True)
class Trial:
    """One measured candidate: images/s on the verification batches and its agreement with
    fp32 (None for the reference itself); ``refused`` says why it may not be used."""

    name: str
    images_per_s: float
    parity: ParityReport | None
    refused: str = ""

    @property
    def verified(self) -> bool:
        return not self.refused


@dataclass(frozen=True)
class Tuning:
    """The outcome of tuning one model on one machine, as cached and as `reslens doctor` shows."""

    machine_key: str
    machine: str
    device: str
    allow_int8: bool
    trials: tuple[Trial, ...]
    skipped: tuple[Offer, ...]
    winner: str
    reason: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Tuning:
        """Parse :meth:`to_json` output; raises ValueError/KeyError/TypeError when damaged."""
        data: dict[str, Any] = json.loads(text)
        trials = tuple(
            Trial(
                t["name"],
                float(t["images_per_s"]),
                ParityReport(**t["parity"]) if t["parity"] else None,
                str(t["refused"]),
            )
            for t in data["trials"]
        )
        skipped = tuple(Offer(o["name"], o["reason"]) for o in data["skipped"])
        return cls(
            str(data["machine_key"]),
            str(data["machine"]),
            str(data["device"]),
            bool(data["allow_int8"]),
            trials,
            skipped,
            str(data["winner"]),
            str(data["reason"]),
        )

    def table(self) -> str:
        """A text table: each candidate, its speed, its agreement, which one is used and why."""
        lines = [
            f"machine: {self.machine}",
            f"{'candidate':<18} {'images/s':>9} {'top-1':>7} {'max Δp':>8}  verdict",
        ]
        for trial in self.trials:
            p = trial.parity
            agree = f"{p.top1_agreement:.1%}" if p else "ref"
            diff = f"{p.max_prob_diff:.1e}" if p else "-"
            verdict = "USED" if trial.name == self.winner else trial.refused or "verified"
            rate = f"{trial.images_per_s:9.1f}"
            lines.append(f"{trial.name:<18} {rate} {agree:>7} {diff:>8}  {verdict}")
        lines += [
            f"{o.name:<18} {'-':>9} {'-':>7} {'-':>8}  not tried: {o.reason}" for o in self.skipped
        ]
        lines.append(f"used: {self.winner} ({self.reason})")
        return "\n".join(lines)


def plan(
    device_type: str,
    *,
    cpu_flags: frozenset[str],
    onnxruntime: str | None,
    allow_int8: bool,
    cuda_bf16: bool = False,
    tensorrt: str | None = "not looked for",
) -> tuple[list[Offer], list[Offer]]:
    """(candidates to try, candidates not tried) for a device type; pure, flags as input.

    ``onnxruntime``: None when ONNX Runtime (and the verified export) is usable, else why not;
    ``tensorrt`` the same for its TensorRT provider (looked at on CUDA only).
    The reference (torch fp32) is always tried: it is the yardstick, and its speed is free.
    """
    offered = [Offer(REFERENCE, "the fp32 reference every other candidate is checked against")]
    skipped: list[Offer] = []
    ort = offered if onnxruntime is None else skipped
    where = "its CUDA provider" if device_type == "cuda" else "the verified ONNX export"
    ort.append(Offer(BASELINE, onnxruntime or where))
    if device_type == "cuda":
        dtype = "bf16" if cuda_bf16 else "fp16"
        offered.append(Offer(f"torch {dtype}", f"CUDA autocast ({dtype} on this GPU)"))
        problem = onnxruntime or tensorrt
        (skipped if problem else offered).append(Offer(TENSORRT, problem or "TensorRT found"))
        skipped.append(Offer("onnxruntime int8", "INT8 QDQ is a CPU path"))
        return offered, skipped
    feature = bf16_support(cpu_flags)
    bf16 = Offer("torch bf16", f"the CPU has {feature}" if feature else "no AMX-BF16/AVX512-BF16")
    (offered if feature else skipped).append(bf16)
    if not allow_int8:
        skipped.append(Offer("onnxruntime int8", "INT8 not allowed (use --fast to allow it)"))
    elif onnxruntime is not None:
        skipped.append(Offer("onnxruntime int8", onnxruntime))
    else:
        offered.append(Offer("onnxruntime int8", "INT8 allowed (--fast)"))
    return offered, skipped


def choose(trials: Sequence[Trial]) -> tuple[str, str]:
    """(winner, why) among the verified trials: the fastest, except that the baseline stays
    unless beaten by :data:`BASELINE_MARGIN`. A refused trial is never chosen."""
    verified = [t for t in trials if t.verified]
    if not verified:
        raise ValueError("no verified candidate (the fp32 reference is always verified)")
    fastest = max(verified, key=lambda t: t.images_per_s)
    baseline = next((t for t in verified if t.name == BASELINE), None)
    if baseline is None:
        return fastest.name, f"fastest verified candidate, {fastest.images_per_s:.1f} images/s"
    if fastest is baseline or fastest.images_per_s < BASELINE_MARGIN * baseline.images_per_s:
        return baseline.name, (
            f"{baseline.images_per_s:.1f} images/s; nothing verified is "
            f"{BASELINE_MARGIN:.2f}x faster, and it starts without torch"
        )
    ratio = fastest.images_per_s / baseline.images_per_s
    return fastest.name, (
        f"{fastest.images_per_s:.1f} images/s, {ratio:.2f}x {BASELINE}, verified against fp32"
    )


def measure(run: Runner, batches: Sequence[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """Logits for each batch, and images/s over all batches but the first (the warm-up:
    allocations, kernel selection, autocast caches); one batch alone is timed on a rerun."""
    first = run(batches[0])
    timed = batches[1:] or batches[:1]
    start = time.perf_counter()
    rest = [run(batch) for batch in timed]
    rate = sum(len(b) for b in timed) / max(time.perf_counter() - start, 1e-9)
    return [first, *rest] if len(batches) > 1 else [first], rate


def trial(
    name: str,
    run: Runner,
    batches: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    *,
    temperature: float = 1.0,
    tolerance: Tolerance = TUNING_TOLERANCE,
) -> Trial:
    """Measure ``run`` on ``batches`` and verify it against the reference logits."""
    try:
        logits, rate = measure(run, batches)
    except Exception as exc:  # a backend's own errors (ORT's derive from Exception only)
        log.warning("%s failed on this machine: %s", name, exc)
        return Trial(name, 0.0, None, f"refused: it failed to run ({exc})")
    expected, got = iter(reference), iter(logits)  # compare() runs both once per batch, in order
    report = compare(
        lambda _: next(expected),
        lambda _: next(got),
        batches,
        names=(REFERENCE, name),
        image_source="verification images",
        temperature=temperature,
    )
    reason = tolerance.violation(report)
    return Trial(name, rate, report, f"refused: {reason}" if reason else "")
