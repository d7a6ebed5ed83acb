"""CPU features and the precision decision: pure functions of the flags, tested with flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime.machine import Machine, bf16_support, nvidia_gpus, parse_cpuinfo, this_machine
from engine.runtime.precision import FP32, autocast, choose_precision

SAPPHIRE_RAPIDS = frozenset(
    ["fpu", "sse2", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]
)
ZEN4 = frozenset(["fpu", "sse2", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"])
ZEN2 = frozenset(["fpu", "sse2", "avx2", "fma"])

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx2 fma
processor\t: 1
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx2 fma avx512f
"""


def test_cpuinfo_gives_the_name_and_the_first_processors_flags() -> None:
    name, flags = parse_cpuinfo(CPUINFO)
    assert name == "AMD EPYC 7B12"
    assert flags == ZEN2


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(SAPPHIRE_RAPIDS, "AMX-BF16"), (ZEN4, "AVX512-BF16"), (ZEN2, None), (frozenset(), None)],
)
def test_bf16_is_offered_only_where_the_cpu_has_it(
    flags: frozenset[str], expected: str | None
) -> None:
    assert bf16_support(flags) == expected
    precision = choose_precision("cpu", cpu_flags=flags)
    assert precision.dtype == ("bfloat16" if expected else None)
    assert (expected or "no AMX-BF16") in precision.reason


def test_opting_out_and_cuda_choices() -> None:
    assert choose_precision("cpu", cpu_flags=SAPPHIRE_RAPIDS, opt_out=True).dtype is None
    fp16 = choose_precision("cuda", cuda_bf16=False)
    assert fp16.dtype == "float16" and fp16.needs_grad_scaler and fp16.label == "fp16"
    bf16 = choose_precision("cuda", cuda_bf16=True)
    assert bf16.dtype == "bfloat16" and not bf16.needs_grad_scaler and bf16.label == "bf16"


def test_autocast_runs_matrix_work_in_bf16_and_fp32_is_untouched() -> None:
    import torch

    layer = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    with autocast(choose_precision("cpu", cpu_flags=ZEN4)):
        assert layer(x).dtype == torch.bfloat16
    with autocast(FP32):
        assert layer(x).dtype == torch.float32
    assert layer.weight.dtype == torch.float32


def test_the_machine_key_changes_with_what_changes_speed() -> None:
    base = Machine("AMD EPYC", ZEN2, 2, (), (("torch", "2.14.1"),))
    assert Machine("AMD EPYC", ZEN2 | {"sse4_1"}, 2, (), base.versions).key() == base.key()
    others = [
        Machine("AMD EPYC", ZEN4, 2, (), base.versions),
        Machine("AMD EPYC", ZEN2, 4, (), base.versions),
        Machine("AMD EPYC", ZEN2, 2, ("NVIDIA H200",), base.versions),
        Machine("AMD EPYC", ZEN2, 2, (), (("torch", "2.15.0"),)),
    ]
    assert len({m.key() for m in others} | {base.key()}) == 5


def test_this_machine_reads_real_figures(tmp_path: Path) -> None:
    machine = this_machine()
    assert machine.cores >= 1 and machine.cpu
    assert dict(machine.versions)["torch"]
    assert machine.key() == this_machine().key()
    gpu = tmp_path / "0000:01:00.0"
    gpu.mkdir()
    (gpu / "information").write_text("Model: \t\t NVIDIA H200\nIRQ: 42\n")
    assert nvidia_gpus(tmp_path) == ("NVIDIA H200",)
    assert nvidia_gpus(tmp_path / "missing") == ()
