"""Scanning labelled folders, their health report, and train/validation splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import DatasetError
from engine.training.health import assess
from engine.training.scan import scan_dataset
from engine.training.splits import fingerprint, split_dataset
from tests.engine.labeled_folders import make_labeled_folder, tree_bytes


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = make_labeled_folder(tmp_path / "data", per_class=10, size=24)
    (root / "checks" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (root / "vertical" / "readme.txt").write_text("notes")
    return root


def test_scan_finds_classes_counts_and_leaves_out_unreadable_files(data: Path) -> None:
    before = tree_bytes(data)
    scan = scan_dataset(data)
    assert scan.class_names == ("checks", "horizontal", "vertical")
    assert scan.counts() == {"checks": 10, "horizontal": 10, "vertical": 10}
    assert [p.name for p, _ in scan.unreadable] == ["broken.png"]
    assert "corrupt" in scan.unreadable[0][1]
    health = assess(scan)
    assert health.ok
    text = health.describe()
    assert "3 classes, 30 images" in text and "broken.png" in text
    assert "Few images" in text  # 10 per class is under the recommended 20
    assert not scan.grayscale
    assert tree_bytes(data) == before  # the user's files are only read


def test_duplicates_stay_together_and_conflicting_labels_are_reported(data: Path) -> None:
    original = data / "horizontal" / "horizontal_000.png"
    shutil.copy(original, data / "horizontal" / "copy_a.png")
    shutil.copy(original, data / "horizontal" / "copy_b.png")
    shutil.copy(data / "checks" / "checks_001.png", data / "vertical" / "mislabelled.png")
    scan = scan_dataset(data)
    health = assess(scan)
    assert len(health.duplicate_groups) == 1 and len(health.duplicate_groups[0]) == 3
    assert len(health.conflicting) == 1
    assert any("label conflicts" in w for w in health.warnings)
    for seed in range(8):
        split = split_dataset(scan, val_fraction=0.3, seed=seed)
        train = {s.path.name for s in split.train}
        val = {s.path.name for s in split.val}
        copies = {"horizontal_000.png", "copy_a.png", "copy_b.png"}
        assert copies <= train or copies <= val


def test_split_is_stratified_reproducible_and_recorded(data: Path) -> None:
    scan = scan_dataset(data)
    split = split_dataset(scan, val_fraction=0.2, test_fraction=0.2, seed=3)
    for part in (split.val, split.test):
        assert np.bincount([s.label for s in part], minlength=3).tolist() == [2, 2, 2]
    assert len(split.train) == 18
    again = split_dataset(scan, val_fraction=0.2, test_fraction=0.2, seed=3)
    other = split_dataset(scan, val_fraction=0.2, test_fraction=0.2, seed=4)
    manifest = split.manifest(scan.root, scan.class_names)
    assert manifest == again.manifest(scan.root, scan.class_names)
    assert fingerprint(manifest) != fingerprint(other.manifest(scan.root, scan.class_names))
    first = manifest[0]
    assert set(first) == {"path", "label", "split", "sha256", "group"}
    assert first["group"] == first["path"]  # no DICOM, no rule: each file is its own group
    assert not Path(first["path"]).is_absolute() and len(first["sha256"]) == 64
    assert "18 train, 6 validation, 6 test" in split.describe()


def test_user_given_train_and_val_folders_are_used_and_leaks_reported(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_labeled_folder(root / "train", per_class=6, size=24, seed=1)
    make_labeled_folder(root / "val", per_class=2, size=24, seed=2)
    leaked = root / "val" / "vertical" / "leak.png"
    shutil.copy(root / "train" / "vertical" / "vertical_000.png", leaked)
    scan = scan_dataset(root)
    assert scan.split_folders and scan.class_names == ("checks", "horizontal", "vertical")
    split = split_dataset(scan, seed=0)
    assert split.source == "folders"
    assert {s.folder_split for s in split.train} == {"train"} and len(split.train) == 18
    assert {s.folder_split for s in split.val} == {"val"} and len(split.val) == 7
    health = assess(scan)
    assert health.leaked and any("too optimistic" in w for w in health.warnings)


def test_grayscale_16_bit_and_rgba_images_are_described(tmp_path: Path) -> None:
    root = tmp_path / "xray"
    rng = np.random.default_rng(0)
    for name in ("normal", "pneumonia"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            deep = (rng.random((20, 24)) * 60000).astype(np.uint16)
            Image.fromarray(deep).save(root / name / f"{i}.png")
    Image.new("RGBA", (20, 20), (90, 90, 90, 128)).save(root / "normal" / "overlay.png")
    _write_dicom(root / "pneumonia" / "ct.dcm", (rng.random((30, 26)) * 4000).astype(np.uint16))
    scan = scan_dataset(root)
    assert scan.grayscale and scan.counts() == {"normal": 4, "pneumonia": 4}
    modes = dict(assess(scan).modes)
    assert sum(n for m, n in modes.items() if m.startswith("I")) == 6 and modes["RGBA"] == 1
    assert modes["DICOM 16-bit"] == 1
    text = assess(scan).describe()
    assert "16-bit grayscale" in text and "transparency" in text and "grayscale (no colour" in text
    assert "20x20 to 26x30 px" in text  # the DICOM's own size, from its header


def _write_dicom(path: Path, stored: np.ndarray) -> None:
    """A minimal 16-bit MONOCHROME2 Secondary Capture file holding ``stored`` (H, W)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.set_pixel_data(stored, photometric_interpretation="MONOCHROME2", bits_stored=16)
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "holds no class folders"),
        ({"a.png": "image"}, "lie directly in it"),
    ],
)
def test_unusable_folders_get_specific_messages(
    tmp_path: Path, layout: dict[str, str], message: str
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    for name in layout:
        Image.new("RGB", (8, 8)).save(root / name)
    with pytest.raises(DatasetError, match=message):
        scan_dataset(root)
    with pytest.raises(DatasetError, match="is not a folder"):
        scan_dataset(tmp_path / "missing")


def test_single_class_and_tiny_classes_block_training_with_what_to_add(tmp_path: Path) -> None:
    root = make_labeled_folder(tmp_path / "one", per_class=3, size=16, classes=("checks",))
    health = assess(scan_dataset(root))
    assert not health.ok and "at least two" in health.errors[0]
    root = make_labeled_folder(tmp_path / "tiny", per_class=3, size=16)
    for extra in ("vertical_001.png", "vertical_002.png"):
        (root / "vertical" / extra).unlink()
    (root / "empty").mkdir()
    scan = scan_dataset(root)
    with pytest.raises(DatasetError, match=r"'empty' has 0 images.*add at least 2 more") as info:
        split_dataset(scan)
    assert "'vertical' has 1 image that can be read; add at least 1 more" in str(info.value)
