"""Reduced precision where the hardware has it: the decision, and autocast as a context manager.

One decision for inference and training alike: bf16 autocast on a CPU with AMX-BF16 or
AVX512-BF16 (elsewhere oneDNN would emulate it, slower than fp32); on CUDA bf16 where the GPU
supports it, else fp16 (which needs a gradient scaler when training); otherwise fp32. Weights,
losses and metrics stay fp32: autocast only runs the matrix work in the lower precision.

>>> choose_precision("cpu", cpu_flags=frozenset({"avx2"})).dtype is None
True
>>> choose_precision("cpu", cpu_flags=frozenset({"avx512_bf16"})).dtype
'bfloat16'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from engine.runtime.machine import bf16_support


@dataclass(frozen=True)
class Precision:
    """``dtype``: "bfloat16", "float16" or None (fp32); ``reason`` says why, in words."""

    device_type: str
    dtype: str | None
    reason: str

    @property
    def label(self) -> str:
        return {"bfloat16": "bf16", "float16": "fp16"}.get(self.dtype or "", "fp32")

    @property
    def needs_grad_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 has fp32's range."""
        return self.dtype == "float16"


FP32 = Precision("cpu", None, "fp32")


def choose_precision(
    device_type: str,
    *,
    cpu_flags: frozenset[str] = frozenset(),
    cuda_bf16: bool = False,
    opt_out: bool = False,
) -> Precision:
    """The autocast precision for ``device_type`` ("cpu" or "cuda"); pure, flags as input.

    ``cuda_bf16``: whether the GPU runs bf16 (``torch.cuda.is_bf16_supported()``).
    ``opt_out``: the user asked for fp32 (``--no-bf16`` style flags).
    """
    if opt_out:
        return Precision(device_type, None, "fp32: reduced precision switched off")
    if device_type == "cuda":
        if cuda_bf16:
            return Precision("cuda", "bfloat16", "bf16 autocast: the GPU supports bf16")
        return Precision("cuda", "float16", "fp16 autocast with loss scaling: no bf16 on this GPU")
    feature = bf16_support(cpu_flags)
    if feature is None:
        return Precision(device_type, None, "fp32: this CPU has no AMX-BF16 or AVX512-BF16")
    return Precision(device_type, "bfloat16", f"bf16 autocast: the CPU has {feature}")


def precision_for_this_machine(device_type: str, *, opt_out: bool = False) -> Precision:
    """:func:`choose_precision` with this machine's CPU flags and GPU (imports torch for CUDA)."""
    from engine.runtime.machine import this_machine

    cuda_bf16 = False
    if device_type == "cuda":
        import torch

        cuda_bf16 = bool(torch.cuda.is_bf16_supported())
    flags = this_machine().flags
    return choose_precision(device_type, cpu_flags=flags, cuda_bf16=cuda_bf16, opt_out=opt_out)


@contextlib.contextmanager
def autocast(precision: Precision) -> Iterator[None]:
    """``torch.autocast`` at ``precision``; a no-op for fp32."""
    if precision.dtype is None:
        yield
        return
    import torch

    with torch.autocast(precision.device_type, dtype=getattr(torch, precision.dtype)):
        yield
