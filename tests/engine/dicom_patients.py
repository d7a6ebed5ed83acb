"""Generated multi-slice DICOM patients, written by pydicom: small (32x32) 16-bit CT-like
slices, a few per patient, each patient with its own PatientID and StudyInstanceUID."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_slice(path: Path, pixels: np.ndarray, *, patient: str, study: str, index: int) -> None:
    """One MONOCHROME2 16-bit CT slice holding ``pixels`` (H, W) uint16."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = patient
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = study + ".1"
    ds.InstanceNumber = index
    ds.set_pixel_data(pixels, photometric_interpretation="MONOCHROME2", bits_stored=16)
    ds.save_as(path, enforce_file_format=True)


def make_patients(
    root: Path,
    *,
    patients: dict[str, int],
    slices: int = 3,
    size: int = 32,
    seed: int = 0,
    folder: str = "",
) -> dict[str, str]:
    """Write ``root/[folder/]<class>/<patient>_sNN.dcm``; ``patients`` maps class -> count.

    Class 0 slices hold a bright disc, class 1 a bright bar, so they are learnable; each
    patient's slices are variations of one anatomy (near each other, but not identical).
    Returns patient ID -> class."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    made: dict[str, str] = {}
    for k, (name, count) in enumerate(sorted(patients.items())):
        out = root / folder / name
        out.mkdir(parents=True, exist_ok=True)
        for p in range(count):
            patient = f"{name[:3].upper()}{seed}{p:03d}"
            study = f"1.2.826.0.1.3680043.8.498.{seed + 1}.{k + 1}.{p + 1}"
            cy, cx = rng.uniform(10, size - 10, 2)
            for s in range(slices):
                base = rng.normal(800, 60, (size, size))
                shape = np.hypot(y - cy, x - cx) < 6 if k == 0 else np.abs(x - cx) < 3
                pixels = np.clip(base + shape * (1500 + 100 * s), 0, 4000).astype(np.uint16)
                write_slice(
                    out / f"{patient}_s{s:02d}.dcm", pixels, patient=patient, study=study, index=s
                )
            made[patient] = name
    return made
