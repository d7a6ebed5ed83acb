"""bench/gpu_check.py: announces cleanly without CUDA; its sections run (toy sizes on the CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from bench import gpu_check  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_and_measures_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert "CUDA is not available here" in out and "nothing measured" in out
    assert "images/s" not in out


@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
def test_gpu_decode_path_classifies_generated_jpegs_on_the_cpu(tmp_path: Path) -> None:
    """The decode_jpeg path of the pipeline section, run with device="cpu"."""
    sizes = gpu_check.SMOKE
    paths = gpu_check.photos(tmp_path, 3, 160, 120)
    classifier = gpu_check.classifier_at("cpu", sizes, gpu_check.precisions("cpu")[0])
    assert gpu_check.gpu_decode_pipeline(classifier, paths, 2, "cpu") > 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_every_section_runs_on_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu_check.main([]) == 0
    assert "5 of 5 sections ran" in capsys.readouterr().out
