"""Medical-grade fine-tuning: patient-level splits, near-duplicates, the split beside the model,
and a user-given split that leaks a patient."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.errors import DatasetError
from engine.models.model_file import read_model_info
from engine.training.health import assess
from engine.training.records import TrainConfig, TrainResult
from engine.training.run import train
from engine.training.scan import scan_dataset
from engine.training.splits import split_csv_path, split_dataset
from tests.engine.dicom_patients import make_patients
from tests.engine.labeled_folders import make_labeled_folder, tree_bytes

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = TrainConfig(epochs=1, image_size=32, batch_size=16, pretrained=False, patience=0)


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("ct") / "data"
    return root, make_patients(root, patients={"abnormal": 6, "normal": 8}, slices=4)


@pytest.fixture(scope="module")
def trained(
    ct: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> TrainResult:
    root, _ = ct
    before = tree_bytes(root)
    result = train(root, tmp_path_factory.mktemp("m") / "ct.reslens", TINY)
    assert tree_bytes(root) == before  # the user's files are only read
    return result


def test_no_patient_is_in_two_splits_for_any_seed(ct: tuple[Path, dict[str, str]]) -> None:
    root, patients = ct
    scan = scan_dataset(root)
    assert {s.group for s in scan.samples} == set(patients)  # grouped by PatientID
    for seed in range(6):
        split = split_dataset(scan, val_fraction=0.25, test_fraction=0.25, seed=seed)
        where = [{s.group for s in part} for part in (split.train, split.val, split.test)]
        assert not (where[0] & where[1] or where[0] & where[2] or where[1] & where[2])
        assert sum(map(len, where)) == len(patients)
        for part in (split.val, split.test):
            assert {s.label for s in part} == {0, 1}  # stratified: both classes everywhere
    text = assess(scan).describe()
    assert "groups by auto" in text and "images  groups" in text
    assert "abnormal      24       6" in text


def test_split_csv_lists_every_file_once_with_its_patient(
    trained: TrainResult, ct: tuple[Path, dict[str, str]]
) -> None:
    root, patients = ct
    csv_path = split_csv_path(trained.model_path)
    assert csv_path.name == "ct.split.csv"
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.dcm"))
    assert sorted(r["path"] for r in rows) == files  # every file, once
    for row in rows:
        assert row["group"] == Path(row["path"]).name.split("_")[0]
        assert patients[row["group"]] == Path(row["path"]).parent.name
    by_patient: dict[str, set[str]] = {}
    for row in rows:
        by_patient.setdefault(row["group"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in by_patient.values())
    manifest = read_model_info(trained.model_path).extra["split"]["files"]
    assert sorted((f["path"], f["split"], f["group"]) for f in manifest) == sorted(
        (r["path"], r["split"], r["group"]) for r in rows
    )


def test_group_rules_regex_and_csv(tmp_path: Path) -> None:
    root = make_labeled_folder(tmp_path / "data", per_class=6, size=24)
    scan = scan_dataset(root, group_by=r"regex:_(\d\d)\d\.png$")  # files 000-005: group "00"
    assert {s.group for s in scan.samples} == {"00"}
    table = tmp_path / "groups.csv"
    lines = ["path,group"] + [
        f"{s.path.relative_to(root).as_posix()},p{i % 4}" for i, s in enumerate(scan.samples)
    ]
    table.write_text("\n".join(lines) + "\n")
    by_table = scan.regroup(f"csv:{table}")
    assert {s.group for s in by_table.samples} == {"p0", "p1", "p2", "p3"}
    table.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match=r"1 file.*do not appear in the CSV"):
        scan.regroup(f"csv:{table}")
    with pytest.raises(DatasetError, match="not a rule ResLens knows"):
        scan_dataset(root, group_by="dicom:PatientName")


def test_user_given_train_and_val_sharing_a_patient_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    make_patients(root, patients={"abnormal": 3, "normal": 3}, folder="train", seed=1)
    make_patients(root, patients={"abnormal": 1, "normal": 1}, folder="val", seed=2)
    leaked = sorted((root / "train" / "normal").glob("*_s00.dcm"))[0]
    shutil.copy(leaked, root / "val" / "normal" / "moved_slice.dcm")  # same PatientID in val/
    patient = leaked.name.split("_")[0]
    health = assess(scan_dataset(root))
    assert health.shared_groups == (patient,)
    assert not health.ok and patient in health.errors[0] and "Move each group" in health.errors[0]
    code = main(["train", str(root), "--out", str(tmp_path / "m.reslens"), "--image-size", "32"])
    assert code == 2 and patient in capsys.readouterr().err
    assert not (tmp_path / "m.reslens").exists()


def test_resized_reencoded_copy_in_another_class_is_a_near_duplicate(tmp_path: Path) -> None:
    import skimage.data

    root = make_labeled_folder(tmp_path / "data", per_class=6, size=48)
    original = Image.fromarray(skimage.data.camera()).resize((96, 96))
    original.save(root / "checks" / "camera.png")
    original.resize((72, 72)).save(root / "vertical" / "camera_copy.jpg", quality=85)
    health = assess(scan_dataset(root))
    assert health.near_conflicting == (
        (root / "checks" / "camera.png", root / "vertical" / "camera_copy.jpg"),
    )
    assert not health.conflicting  # not byte-identical: only the perceptual hash sees it
    assert any("near-duplicate" in w and "camera_copy.jpg" in w for w in health.warnings)
    for seed in range(5):  # near-duplicates share a split, like exact copies
        split = split_dataset(scan_dataset(root), seed=seed)
        names = [{s.path.name for s in part} for part in (split.train, split.val)]
        assert any({"camera.png", "camera_copy.jpg"} <= part for part in names)


def test_evaluate_a_saved_model_on_an_external_folder(
    trained: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    external = tmp_path / "external"
    make_patients(external, patients={"abnormal": 2, "normal": 2}, seed=7)
    report = tmp_path / "eval.html"
    code = main(["evaluate", str(trained.model_path), str(external), "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert "12 images" in out and "confusion matrix" in out  # 4 patients x 3 slices
    assert "positive class 'abnormal'" in out  # named like a finding
    assert "which the temperature was not fitted on" in out
    html = report.read_text(encoding="utf-8")
    assert html.count("<img") >= 3  # confusion matrix, reliability diagram, ROC curve
    (external / "other").mkdir()
    Image.new("L", (32, 32)).save(external / "other" / "x.png")
    assert main(["evaluate", str(trained.model_path), str(external), "--no-report"]) == 2
    assert "does not know the class(es) 'other'" in capsys.readouterr().err


def test_positive_class_is_asked_of_the_data_and_checked(
    trained: TrainResult, ct: tuple[Path, dict[str, str]]
) -> None:
    assert trained.metrics.positive == "abnormal"
    assert read_model_info(trained.model_path).positive_class == "abnormal"
    with pytest.raises(DatasetError, match="'tumour' is not a class here"):
        train(ct[0], trained.model_path.with_name("x.reslens"), TrainConfig(positive="tumour"))
    assert np.isfinite(trained.calibration.ece_after)


def test_cross_validation_folds_then_a_final_model_on_all_training_data(
    ct: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    import dataclasses

    root, patients = ct
    config = dataclasses.replace(TINY, folds=2, test_fraction=0.2)
    result = train(root, tmp_path / "cv.reslens", config)
    cv = result.cross_validation
    assert cv is not None and cv.folds == 2 and len(cv.best_epochs) == 2
    figures = {name: (mean, sd) for name, mean, sd in cv.figures}
    assert {"accuracy", "balanced accuracy", "sensitivity", "roc auc"} <= set(figures)
    assert all(0 <= mean <= 1 and sd >= 0 for name, (mean, sd) in figures.items() if name != "loss")
    test_groups = {s.group for s in result.split.test}
    assert test_groups and not test_groups & {s.group for s in result.split.train}
    assert len(result.split.train) + len(result.split.test) == 4 * len(patients)  # all the rest
    assert result.split.val == () and result.metrics.count == len(result.split.train)
    assert any("final model was trained on all" in n for n in result.notes)
    assert result.test_metrics is not None
    html = result.report_path.read_text(encoding="utf-8") if result.report_path else ""
    assert "Cross-validation (2 folds)" in html and "±" in html
    assert "cross-validation (mean ± sd)" in result.summary()
