"""Knowledge distillation: the loss leads a student to its teacher's answers, and a distilled
model file records its teacher, the settings and the teacher's own split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.models.card import file_sha256
from engine.models.model_file import read_model_info
from engine.training.distill import DistillationLoss
from engine.training.records import TrainConfig
from engine.training.run import train
from tests.engine.labeled_folders import make_labeled_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fit(alpha: float, temperature: float = 4.0) -> float:
    """Train a linear student on random features with random (useless) labels and the loss
    at ``alpha``; its top-1 agreement with a linear teacher on unseen features."""
    gen = torch.Generator().manual_seed(0)
    teacher = torch.nn.Linear(16, 5)
    torch.nn.init.normal_(teacher.weight, std=2.0, generator=gen)
    student = torch.nn.Linear(16, 5)
    labels_only = torch.nn.CrossEntropyLoss()
    loss = DistillationLoss(teacher, labels_only, temperature, alpha)
    handle = loss.attach(student)
    optimizer = torch.optim.Adam(student.parameters(), lr=0.05)
    student.train()
    for _ in range(150):
        x = torch.randn(64, 16, generator=gen)
        noise = torch.randint(0, 5, (64,), generator=gen)  # labels that carry no information
        optimizer.zero_grad()
        loss(student(x), noise).backward()
        optimizer.step()
    handle.remove()
    x = torch.randn(1000, 16, generator=gen)
    with torch.no_grad():
        return float((student(x).argmax(1) == teacher(x).argmax(1)).float().mean())


def test_the_distillation_term_alone_teaches_the_teachers_answers() -> None:
    assert _fit(alpha=1.0) > 0.9  # labels unused: everything learned came from the teacher
    assert _fit(alpha=0.5) > 0.8  # the default mix still follows the teacher through noise
    assert _fit(alpha=0.0) < 0.5  # without the teacher, random labels teach nothing (chance 0.2)


def test_distillation_loss_is_zero_only_when_the_student_matches_the_teacher() -> None:
    loss = DistillationLoss(torch.nn.Identity(), torch.nn.CrossEntropyLoss(), 4.0, alpha=1.0)
    x, labels = torch.randn(8, 3), torch.zeros(8, dtype=torch.long)
    same, off = torch.nn.Identity(), torch.nn.Linear(3, 3, bias=False)
    torch.nn.init.zeros_(off.weight)  # uniform outputs where the teacher has opinions
    for student, expected in ((same, 0.0), (off, None)):
        handle = loss.attach(student)
        value = float(loss(student(x), labels).detach())
        handle.remove()
        if expected is None:
            assert value > 0.01
        else:
            assert value == pytest.approx(expected, abs=1e-6)


def test_distilled_student_records_its_teacher_the_settings_and_the_teachers_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_labeled_folder(tmp_path / "data", per_class=10, size=24)
    teacher = tmp_path / "teacher.reslens"
    config = TrainConfig(
        arch="resnet18", epochs=1, image_size=16, batch_size=8, pretrained=False, device="cpu"
    )
    train(data, teacher, config, write_report=False)
    student = tmp_path / "student.reslens"
    code = main(["distill", str(teacher), str(data), "--student", "resnet18", "--out",
                 str(student), "--epochs", "1", "--from-scratch", "--temperature", "3",
                 "--device", "cpu"])  # fmt: skip
    assert code == 0
    card, taught = read_model_info(student), read_model_info(teacher)
    assert card.teacher == {
        "file": "teacher.reslens", "sha256": file_sha256(teacher), "arch": "resnet18",
        "temperature": 3.0, "alpha": 0.5,
    }  # fmt: skip
    assert card.extra["split"]["files"] == taught.extra["split"]["files"]
    assert card.preprocess == taught.preprocess
    assert student.with_suffix(".report.html").is_file()
    assert main(["info", str(student)]) == 0
    assert "teacher      teacher.reslens (resnet18" in capsys.readouterr().out
