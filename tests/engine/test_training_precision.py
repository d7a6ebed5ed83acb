"""bf16 fine-tuning where the CPU has it: the step runs in bf16, losses and metrics in fp32."""

from __future__ import annotations

import numpy as np
import pytest

from engine.imaging.preprocess import PreprocessSpec
from engine.runtime.precision import choose_precision
from engine.training.data import Batch
from engine.training.recipe import Amp, Inputs, evaluate, train_one_epoch

AMX = frozenset({"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _batch(n: int = 4, side: int = 32) -> Batch:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    return Batch(pixels, np.arange(n, dtype=np.int64) % 2, np.arange(n))


def _tiny() -> object:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 2),
    )


def test_the_training_step_runs_in_bf16_and_reports_fp32_figures() -> None:
    import torch

    model = _tiny()
    seen: list[torch.dtype] = []
    model[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype))  # type: ignore[index]
    amp = Amp("cpu", precision=choose_precision("cpu", cpu_flags=AMX))
    assert amp.enabled and amp.scaler is None  # bf16 has fp32's range: no loss scaling
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # type: ignore[attr-defined]
    before = [p.detach().clone() for p in model.parameters()]  # type: ignore[attr-defined]
    inputs = Inputs(PreprocessSpec(resize=32, crop=32), "cpu")
    loss, correct, count = train_one_epoch(
        model, torch.nn.CrossEntropyLoss(), optimizer, [_batch()], inputs=inputs, amp=amp
    )
    assert seen == [torch.bfloat16]
    assert np.isfinite(loss) and count == 4 and 0 <= correct <= 4
    after = list(model.parameters())  # type: ignore[attr-defined]
    assert all(p.dtype == torch.float32 for p in after)  # weights stay fp32
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    result = evaluate(model, [_batch()], inputs=inputs, amp=amp)
    assert result.logits.dtype == np.float32 and result.logits.shape == (4, 2)


def test_opting_out_or_a_cpu_without_bf16_trains_in_fp32() -> None:
    assert not Amp("cpu", reduced=False).enabled
    plain = Amp("cpu", precision=choose_precision("cpu", cpu_flags=frozenset({"avx2"})))
    assert not plain.enabled and plain.scaler is None


def test_the_cli_flag_switches_it_off() -> None:
    from engine.cli import build_parser
    from engine.cli.train import config_from_args

    parser = build_parser()
    default = config_from_args(parser.parse_args(["train", "data", "--out", "m.reslens"]))
    fp32 = config_from_args(parser.parse_args(["train", "data", "--out", "m.reslens", "--fp32"]))
    assert default.reduced_precision and not fp32.reduced_precision
