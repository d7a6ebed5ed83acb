"""Labelled folders for training: scan them, judge their health, and find the classes.

A data set is a folder with one subfolder per class (``data/cat/*.jpg``, ``data/dog/*.jpg``;
images may sit deeper inside a class folder), or the same split by the user into
``train/``, ``val/`` (``valid``, ``validation``) and optionally ``test/`` folders, each holding
the class folders. Scanning decodes every image once (cheaply: JPEGs at reduced scale) so that
unreadable files are found before training, and hashes every file so exact duplicates are
found, and takes a 64-bit difference hash of the decoded image so near-duplicates are found.
Every sample gets a group (:mod:`engine.training.groups`: by default a DICOM file's patient).
Files are only ever read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.errors import DatasetError, EngineError
from engine.imaging.decode import load_image
from engine.imaging.walk import find_images
from engine.jobs import CancelToken, Progress, ProgressMeter, ordered_map
from engine.training.groups import GroupKeys, assign_groups, parse_group_rule
from engine.training.neardup import dhash, near_pairs

log = logging.getLogger(__name__)

MIN_IMAGES_PER_CLASS = 2
"""Fewer and a class cannot appear in both the training and the validation set."""
RECOMMENDED_PER_CLASS = 20
IMBALANCE_WARNING = 3.0
GRAYSCALE_SHARE = 0.9
"""A data set counts as grayscale when at least this share of its images are."""

SPLIT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}
_PILLOW_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
_PROBE_SIDE = 64  # decode check at a reduced scale: enough to find corrupt data, fast
_GRAY_TOLERANCE = 4  # JPEG chroma noise in a grey image stays within a few levels

ScanProgress = Callable[[Progress], None]


@dataclass(frozen=True)
class Sample:
    """One usable image: where it is, its class index, content hash and what the file holds."""

    path: Path
    label: int
    sha256: str
    width: int
    height: int
    mode: str  # the file's own pixel format: "RGB", "L", "I;16", "RGBA", "DICOM 16-bit" ...
    grayscale: bool  # decoded pixels have R == G == B (within JPEG noise)
    folder_split: str | None = None  # "train", "val" or "test" when the user split by folders
    dhash: int = 0  # 64-bit difference hash of the decoded image (near-duplicates)
    patient_id: str | None = None  # DICOM PatientID / StudyInstanceUID, when the file has them
    study_uid: str | None = None
    group: str = ""  # the samples that must stay in one split share it (see groups.py)


@dataclass(frozen=True)
class DatasetScan:
    """The result of :func:`scan_dataset`: classes, usable samples and what was left out."""

    root: Path
    class_names: tuple[str, ...]
    samples: tuple[Sample, ...]
    unreadable: tuple[tuple[Path, str], ...]  # image files that failed to decode, and why
    ignored: tuple[tuple[Path, str], ...]  # files that are not images, or outside class folders
    split_folders: bool  # True when the user's train/ and val/ folders define the split
    near_pairs: tuple[tuple[int, int], ...] = ()  # near-duplicate sample index pairs (i < j)
    group_by: str = "auto"  # the rule that set each sample's group

    def relative(self, path: Path) -> str:
        """``path`` relative to the data folder, POSIX style (as recorded with a model)."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def regroup(self, group_by: str) -> DatasetScan:
        """The same scan with every sample's group set by the rule ``group_by``."""
        rule = parse_group_rule(group_by)
        keys = [GroupKeys(self.relative(s.path), s.patient_id, s.study_uid) for s in self.samples]
        groups = assign_groups(rule, keys)
        samples = tuple(
            dataclasses.replace(s, group=g) for s, g in zip(self.samples, groups, strict=True)
        )
        return dataclasses.replace(self, samples=samples, group_by=group_by)

    def group_counts(self) -> dict[str, int]:
        """Distinct groups per class."""
        found: dict[int, set[str]] = defaultdict(set)
        for s in self.samples:
            found[s.label].add(s.group)
        return {name: len(found.get(i, ())) for i, name in enumerate(self.class_names)}

    def counts(self) -> dict[str, int]:
        found = Counter(s.label for s in self.samples)
        return {name: found.get(i, 0) for i, name in enumerate(self.class_names)}

    @property
    def grayscale(self) -> bool:
        """Whether the images are (nearly all) grey, e.g. X-ray or CT: no colour jitter then."""
        if not self.samples:
            return False
        return sum(s.grayscale for s in self.samples) >= GRAYSCALE_SHARE * len(self.samples)


def scan_dataset(
    root: str | Path,
    *,
    cancel: CancelToken | None = None,
    on_progress: ScanProgress | None = None,
    workers: int = 2,
    group_by: str = "auto",
) -> DatasetScan:
    """Find the classes under ``root`` and check every image in them.

    Raises :class:`DatasetError` when ``root`` is not a folder or holds no class folders
    (naming what it found instead). Unreadable images do not raise: they are listed in
    ``unreadable`` and left out. Classes are sorted by name; label ``i`` is ``class_names[i]``.
    ``group_by`` is the grouping rule (:mod:`engine.training.groups`), checked before any work.
    """
    parse_group_rule(group_by)  # a bad rule fails before the images are read
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"{root} is not a folder. Choose the folder that holds one subfolder per class."
        )
    folders, split_folders, ignored = _class_folders(root)
    class_names = tuple(sorted({name for name, _, _ in folders}))
    entries: list[tuple[Path, int, str | None]] = []
    for name, folder, split in folders:
        images, skipped = find_images([folder])
        ignored += [(path, reason) for path, reason in skipped]
        entries += [(path, class_names.index(name), split) for path in images]
    samples, unreadable = _inspect_all(entries, workers, cancel, on_progress)
    pairs = tuple(near_pairs([s.dhash for s in samples]))
    scan = DatasetScan(root, class_names, samples, unreadable, tuple(ignored), split_folders, pairs)
    return scan.regroup(group_by)


def _inspect_all(
    entries: list[tuple[Path, int, str | None]],
    workers: int,
    cancel: CancelToken | None,
    on_progress: ScanProgress | None,
) -> tuple[tuple[Sample, ...], tuple[tuple[Path, str], ...]]:
    """Inspect (path, label, split) entries on ``workers`` threads, in order."""
    meter = ProgressMeter(len(entries))
    samples: list[Sample] = []
    unreadable: list[tuple[Path, str]] = []
    for (path, label, split), future in ordered_map(
        lambda entry: _inspect(entry[0]),
        entries,
        workers=workers,
        in_flight=4 * workers,
        cancel=cancel,
    ):
        exc = future.exception()
        if exc is None:
            samples.append(future.result().with_label(label, split))
        elif isinstance(exc, EngineError | OSError):
            unreadable.append((path, str(getattr(exc, "reason", exc))))
        else:
            raise exc
        progress = meter.advance(failed=int(exc is not None))
        if on_progress is not None:
            on_progress(progress)
    return tuple(samples), tuple(unreadable)


def _class_folders(
    root: Path,
) -> tuple[list[tuple[str, Path, str | None]], bool, list[tuple[Path, str]]]:
    """(class name, folder, split or None) for every class folder, whether split by folders,
    and the files lying outside any class folder."""
    subfolders = _subfolders(root)
    loose = [p for p in _files(root)]
    by_split = {_split_of(d.name): d for d in subfolders if _split_of(d.name)}
    ignored = [(p, "outside any class folder") for p in loose]
    if "train" in by_split and len(by_split) == len(subfolders):
        folders = [
            (cls.name, cls, split)
            for split, folder in sorted(by_split.items())
            for cls in _subfolders(folder)
        ]
        for split, folder in by_split.items():
            ignored += [(p, f"outside any class folder of {split}/") for p in _files(folder)]
        if not folders:
            raise DatasetError(
                f"{by_split['train']} has no class folders. Put one subfolder per class in it, "
                f"e.g. {by_split['train'] / 'cat'}."
            )
        return folders, True, ignored
    if not subfolders:
        images, _ = find_images(loose)
        if images:
            raise DatasetError(
                f"The {len(images)} images in {root} lie directly in it, outside class folders. "
                f"Put each class in its own subfolder, e.g. {root / 'cat'} and {root / 'dog'}."
            )
        raise DatasetError(
            f"{root} holds no class folders. Put one subfolder per class in it, e.g. "
            f"{root / 'cat'} and {root / 'dog'}, with the images of each class inside."
        )
    return [(d.name, d, None) for d in subfolders], False, ignored


def _subfolders(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise DatasetError(f"Cannot read the folder {folder}: {exc.strerror or exc}") from exc
    return [e for e in entries if e.is_dir() and not e.name.startswith((".", "__"))]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _split_of(name: str) -> str | None:
    key = name.casefold()
    return next((split for split, names in SPLIT_NAMES.items() if key in names), None)


@dataclass(frozen=True)
class _Inspected:
    path: Path
    sha256: str
    width: int
    height: int
    mode: str
    grayscale: bool
    dhash: int
    dicom_ids: tuple[str | None, str | None]  # PatientID, StudyInstanceUID

    def with_label(self, label: int, split: str | None) -> Sample:
        patient, study = self.dicom_ids
        return Sample(
            self.path, label, self.sha256, self.width, self.height, self.mode, self.grayscale,
            split, self.dhash, patient, study,
        )  # fmt: skip


def _inspect(path: Path) -> _Inspected:
    """Hash a file, read its format, and decode it once to prove it is readable."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    image = load_image(path, min_side=_PROBE_SIDE)
    (width, height, mode), ids = _probe_format(path, image)
    gray = _is_gray(image)
    return _Inspected(path, digest.hexdigest(), width, height, mode, gray, dhash(image), ids)


_NO_IDS: tuple[str | None, str | None] = (None, None)


def _probe_format(
    path: Path, decoded: Image.Image
) -> tuple[tuple[int, int, str], tuple[str | None, str | None]]:
    """(width, height, pixel format) from the file's header, not from the decoded copy, and
    a DICOM file's (PatientID, StudyInstanceUID)."""
    try:
        with Image.open(path, formats=_PILLOW_FORMATS) as image:
            return (image.width, image.height, image.mode), _NO_IDS
    except (OSError, ValueError, SyntaxError):
        pass  # not a Pillow format: DICOM, whose header pydicom reads
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8)
        ids = (
            str(ds.get("PatientID") or "") or None,
            str(ds.get("StudyInstanceUID") or "") or None,
        )
        return (int(ds.Columns), int(ds.Rows), f"DICOM {bits}-bit"), ids
    except (InvalidDicomError, AttributeError, OSError, ValueError, TypeError):
        # It decoded, so it is readable; the header only informs the report.
        return (decoded.width, decoded.height, "DICOM"), _NO_IDS


def _is_gray(image: Image.Image) -> bool:
    pixels = np.asarray(image, dtype=np.int16)
    return bool(
        np.abs(pixels[..., 0] - pixels[..., 1]).max(initial=0) <= _GRAY_TOLERANCE
        and np.abs(pixels[..., 0] - pixels[..., 2]).max(initial=0) <= _GRAY_TOLERANCE
    )


def duplicate_groups(samples: Iterable[Sample]) -> list[list[Sample]]:
    """Groups (two or more) of samples whose files have identical content, in scan order."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.sha256].append(sample)
    return [group for group in groups.values() if len(group) > 1]
