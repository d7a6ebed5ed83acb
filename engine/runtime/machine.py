"""What this machine can run fast: CPU flags, cores, GPUs, library versions; no torch import.

The backend tuner keys its results by :meth:`Machine.key`, so a tuning made on one machine is
never trusted on another: a different CPU (flags), core count, GPU or library version re-tunes.
The decisions (:func:`bf16_support`) are pure functions of the flags, so tests give the flags.

>>> bf16_support(frozenset({"avx2", "avx512f", "amx_bf16"}))
'AMX-BF16'
>>> bf16_support(frozenset({"avx2", "fma"})) is None
True
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

SPEED_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
"""The CPU flags that change which kernels oneDNN and MLAS pick (and so which path is fastest)."""
_VERSIONED = ("torch", "onnxruntime", "onnxruntime-gpu", "numpy")


@dataclass(frozen=True)
class Machine:
    """This computer as far as inference speed is concerned."""

    cpu: str
    flags: frozenset[str]
    cores: int
    gpus: tuple[str, ...] = ()
    versions: tuple[tuple[str, str], ...] = ()

    def key(self) -> str:
        """Hex digest of everything that can change which backend is fastest."""
        record = {
            "cpu": self.cpu,
            "flags": sorted(self.flags.intersection(SPEED_FLAGS)),
            "cores": self.cores,
            "gpus": list(self.gpus),
            "versions": [list(v) for v in self.versions],
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:24]

    def describe(self) -> str:
        flags = " ".join(f for f in SPEED_FLAGS if f in self.flags) or "no SIMD flags read"
        gpus = ", ".join(self.gpus) or "no NVIDIA GPU"
        return f"{self.cpu}, {self.cores} cores ({flags}); {gpus}"


def bf16_support(flags: frozenset[str]) -> str | None:
    """The CPU feature that makes bf16 autocast fast ("AMX-BF16", "AVX512-BF16"), or None.

    Without one of these, oneDNN emulates bf16 with fp32 conversions and it runs slower than
    fp32, so bf16 is not even a candidate.
    """
    if "amx_bf16" in flags and "amx_tile" in flags:
        return "AMX-BF16"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    return None


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """``/proc/cpuinfo`` text -> (model name, flags of the first processor)."""
    name, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not flags:  # x86 / ARM spelling
            flags = frozenset(value.split())
        if name and flags:
            break
    return name, flags


def nvidia_gpus(root: Path = Path("/proc/driver/nvidia/gpus")) -> tuple[str, ...]:
    """Names of the NVIDIA GPUs the driver reports (Linux; empty elsewhere or without one)."""
    names = []
    for info in sorted(root.glob("*/information")) if root.is_dir() else []:
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    return tuple(names)


def this_machine() -> Machine:
    """Read this machine's CPU, cores, GPUs and library versions (a few ms, no torch)."""
    try:
        name, flags = parse_cpuinfo(Path("/proc/cpuinfo").read_text(errors="replace"))
    except OSError:  # not Linux: no flags, so no bf16 offer (fp32 paths still tune)
        name, flags = "", frozenset()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    versions = []
    for dist in _VERSIONED:
        try:
            versions.append((dist, md.version(dist)))
        except md.PackageNotFoundError:
            continue
    return Machine(
        name or platform.processor() or platform.machine(),
        flags,
        cores,
        nvidia_gpus(),
        tuple(versions),
    )
