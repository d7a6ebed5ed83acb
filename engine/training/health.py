"""The health report of a scanned data set: what blocks training, what a user should know."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import DatasetError
from engine.training.scan import (
    IMBALANCE_WARNING,
    MIN_IMAGES_PER_CLASS,
    RECOMMENDED_PER_CLASS,
    DatasetScan,
    Sample,
    duplicate_groups,
)

_LISTED = 5  # paths named per problem in the text report

_MODE_NAMES = {
    "RGB": "8-bit colour",
    "L": "8-bit grayscale",
    "1": "1-bit black and white",
    "P": "palette colour",
    "RGBA": "colour with transparency (composited on white)",
    "LA": "grayscale with transparency (composited on white)",
    "I;16": "16-bit grayscale (stretched to 8-bit per image)",
    "I;16B": "16-bit grayscale (stretched to 8-bit per image)",
    "I": "32-bit grayscale (stretched to 8-bit per image)",
    "F": "floating-point grayscale (stretched to 8-bit per image)",
    "CMYK": "CMYK colour",
}


@dataclass(frozen=True)
class HealthReport:
    """What a user should know about a data set before training on it.

    ``errors`` block training (:meth:`raise_if_unusable`); ``warnings`` do not.
    """

    class_counts: tuple[tuple[str, int], ...]
    unreadable: tuple[tuple[Path, str], ...]
    ignored: tuple[tuple[Path, str], ...]
    duplicate_groups: tuple[tuple[Path, ...], ...]  # identical files within one class
    conflicting: tuple[tuple[Path, ...], ...]  # identical files filed under different classes
    leaked: tuple[tuple[Path, Path], ...]  # (train file, val/test file) identical, folder split
    near_duplicates: tuple[tuple[Path, Path], ...]  # near-identical pairs, not byte-identical
    near_conflicting: tuple[tuple[Path, Path], ...]  # ... of them filed under different classes
    near_leaked: tuple[tuple[Path, Path], ...]  # ... of them in train/ and in val/ or test/
    group_counts: tuple[tuple[str, int], ...]  # distinct groups (patients ...) per class
    shared_groups: tuple[str, ...]  # groups in train/ and in val/ or test/ (folder split)
    group_by: str
    imbalance_ratio: float  # largest class / smallest non-empty class
    modes: tuple[tuple[str, int], ...]  # pixel formats and how many images have each
    size_range: tuple[int, int, int, int]  # smallest width, height; largest width, height
    grayscale: bool
    split_folders: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def total(self) -> int:
        return sum(n for _, n in self.class_counts)

    def raise_if_unusable(self) -> None:
        if self.errors:
            raise DatasetError(" ".join(self.errors))

    def describe(self) -> str:
        """The report as plain text: counts, problems, and what to do about each."""
        return describe(self)


def assess(scan: DatasetScan) -> HealthReport:
    """Judge ``scan``: counts, groups, duplicates, near-duplicates, leaks, formats."""
    counts = scan.counts()
    near = [
        (scan.samples[a], scan.samples[b])
        for a, b in scan.near_pairs
        if scan.samples[a].sha256 != scan.samples[b].sha256
    ]
    folders = [(a, b) for a, b in near if _crosses_folders(a, b)]
    shared = _shared_groups(scan)
    groups = duplicate_groups(scan.samples)
    same = [g for g in groups if len({s.label for s in g}) == 1]
    conflicting = [g for g in groups if len({s.label for s in g}) > 1]
    leaked = [
        (first.path, other.path)
        for g in groups
        for first in g
        if first.folder_split == "train"
        for other in g
        if other.folder_split in ("val", "test")
    ]
    nonzero = [n for n in counts.values() if n]
    ratio = max(nonzero) / min(nonzero) if nonzero else 0.0
    widths = [s.width for s in scan.samples] or [0]
    heights = [s.height for s in scan.samples] or [0]
    return HealthReport(
        class_counts=tuple(counts.items()),
        unreadable=scan.unreadable,
        ignored=scan.ignored,
        duplicate_groups=tuple(tuple(s.path for s in g) for g in same),
        conflicting=tuple(tuple(s.path for s in g) for g in conflicting),
        leaked=tuple(leaked),
        near_duplicates=tuple((a.path, b.path) for a, b in near),
        near_conflicting=tuple((a.path, b.path) for a, b in near if a.label != b.label),
        near_leaked=tuple((a.path, b.path) for a, b in folders),
        group_counts=tuple(scan.group_counts().items()),
        shared_groups=shared,
        group_by=scan.group_by,
        imbalance_ratio=ratio,
        modes=tuple(Counter(s.mode for s in scan.samples).most_common()),
        size_range=(min(widths), min(heights), max(widths), max(heights)),
        grayscale=scan.grayscale,
        split_folders=scan.split_folders,
        errors=tuple(_errors(scan, counts) + _group_errors(scan, shared)),
        warnings=tuple(
            _warnings(scan, counts, ratio, same, conflicting, leaked)
            + _near_warnings(scan, near, folders)
            + _group_warnings(scan)
        ),
    )


def _crosses_folders(a: Sample, b: Sample) -> bool:
    return {a.folder_split, b.folder_split} & {
        "train"
    } != set() and a.folder_split != b.folder_split


def _shared_groups(scan: DatasetScan) -> tuple[str, ...]:
    """Groups with files both in train/ and in val/ or test/ (a folder split only)."""
    if not scan.split_folders:
        return ()
    where: dict[str, set[str | None]] = {}
    for s in scan.samples:
        where.setdefault(s.group, set()).add(s.folder_split)
    return tuple(g for g, splits in where.items() if "train" in splits and len(splits) > 1)


def _group_errors(scan: DatasetScan, shared: tuple[str, ...]) -> list[str]:
    if not shared:
        return []
    return [
        f"{len(shared)} group(s) (grouped by {scan.group_by}: patients, studies ...) have files "
        f"both in train/ and in val/ or test/, so validation would score what training saw: "
        f"{_list(shared)}. Move each group's files into one folder."
    ]


def _group_warnings(scan: DatasetScan) -> list[str]:
    if scan.split_folders or not _grouped(scan):
        return []
    few = [n for n, g in scan.group_counts().items() if 0 < g < 2]
    if not few:
        return []
    return [
        f"{', '.join(repr(n) for n in few)} has only one group (patient), so it cannot be in "
        "both training and validation: its validation figures will be missing. Add images from "
        "more patients, or give train/ and val/ folders."
    ]


def _near_warnings(
    scan: DatasetScan, near: list[tuple[Sample, Sample]], folders: list[tuple[Sample, Sample]]
) -> list[str]:
    warnings: list[str] = []
    crossed = [(a, b) for a, b in near if a.label != b.label]

    def pair(a: Sample, b: Sample) -> str:
        return f"{_rel(scan.root, a.path)} ~ {_rel(scan.root, b.path)}"

    if crossed:
        warnings.append(
            f"{len(crossed)} near-duplicate pair(s) (resized or re-encoded copies) are filed "
            "under different classes (label conflicts?): " + _list(pair(a, b) for a, b in crossed)
        )
    if folders:
        warnings.append(
            f"{len(folders)} near-duplicate pair(s) lie in train/ and in val/ or test/: "
            "validation figures will be too optimistic. " + _list(pair(a, b) for a, b in folders)
        )
    elif near and not scan.split_folders:
        warnings.append(
            f"{len(near)} near-duplicate pair(s) found; each set is kept together in one split."
        )
    return warnings


def _grouped(scan: DatasetScan) -> bool:
    """Whether any group holds more than one file (else every file is its own group)."""
    return len({s.group for s in scan.samples}) < len(scan.samples)


def _errors(scan: DatasetScan, counts: dict[str, int]) -> list[str]:
    errors: list[str] = []
    if len(scan.class_names) < 2:
        only = f" ({scan.class_names[0]})" if scan.class_names else ""
        errors.append(
            f"Only one class{only} was found in {scan.root}; a classifier needs at least two. "
            "Add a second class folder with its images."
        )
    for name, count in counts.items():
        if count < MIN_IMAGES_PER_CLASS:
            errors.append(
                f"Class {name!r} has {_images(count)} that can be read; add at least "
                f"{MIN_IMAGES_PER_CLASS - count} more (each class needs {MIN_IMAGES_PER_CLASS} "
                f"at the very least, {RECOMMENDED_PER_CLASS} or more to learn well)."
            )
    if scan.split_folders:
        in_train = {s.label for s in scan.samples if s.folder_split == "train"}
        for i, name in enumerate(scan.class_names):
            if counts[name] >= MIN_IMAGES_PER_CLASS and i not in in_train:
                errors.append(
                    f"Class {name!r} has no images in the train folder; add some to train/{name}/."
                )
    return errors


def _warnings(
    scan: DatasetScan,
    counts: dict[str, int],
    ratio: float,
    same: list[list[Sample]],
    conflicting: list[list[Sample]],
    leaked: list[tuple[Path, Path]],
) -> list[str]:
    warnings: list[str] = []
    if scan.unreadable:
        warnings.append(
            f"{_images(len(scan.unreadable))} cannot be read and will be left out: "
            + _list(f"{p.name} ({why})" for p, why in scan.unreadable)
        )
    small = [n for n, c in counts.items() if MIN_IMAGES_PER_CLASS <= c < RECOMMENDED_PER_CLASS]
    if small:
        warnings.append(
            f"Few images in {', '.join(repr(n) for n in small)} (under {RECOMMENDED_PER_CLASS}); "
            "expect validation figures to vary a lot from run to run."
        )
    if ratio >= IMBALANCE_WARNING:
        warnings.append(
            f"Classes are imbalanced ({ratio:.1f} : 1); training weights the rarer classes up. "
            "Judge the model by balanced accuracy rather than accuracy."
        )
    if conflicting:
        warnings.append(
            f"{len(conflicting)} identical file(s) are filed under different classes (label "
            "conflicts): "
            + _list(" = ".join(_rel(scan.root, p.path) for p in g) for g in conflicting)
        )
    if leaked:
        warnings.append(
            f"{len(leaked)} validation/test file(s) also appear in train (identical content): "
            "validation figures will be too optimistic. "
            + _list(f"{_rel(scan.root, a)} = {_rel(scan.root, b)}" for a, b in leaked)
        )
    if same and not scan.split_folders:
        extra = sum(len(g) - 1 for g in same)
        warnings.append(
            f"{extra} exact duplicate(s) found; each set of copies is kept together in one split "
            "so none sits in both training and validation."
        )
    return warnings


def describe(report: HealthReport) -> str:
    """A few lines of plain text for a terminal or a read-only text box."""
    width = max(5, *(len(name) for name, _ in report.class_counts))
    groups = dict(report.group_counts)
    grouped = sum(groups.values()) < report.total
    lines = [f"{len(report.class_counts)} classes, {_images(report.total)}:"]
    if grouped:
        lines[0] += f" (groups by {report.group_by}: patients, studies ...)"
        lines.append(f"  {'':<{width}}  {'images':>6}  {'groups':>6}")
    lines += [
        f"  {name:<{width}}  {count:6d}" + (f"  {groups.get(name, 0):6d}" if grouped else "")
        for name, count in report.class_counts
    ]
    if report.imbalance_ratio:
        lines.append(f"imbalance (largest / smallest class): {report.imbalance_ratio:.1f} : 1")
    lo_w, lo_h, hi_w, hi_h = report.size_range
    lines.append(f"image sizes: {lo_w}x{lo_h} to {hi_w}x{hi_h} px")
    formats = ", ".join(f"{_MODE_NAMES.get(m, m)}: {n}" for m, n in report.modes)
    lines.append(f"pixel formats: {formats}")
    lines.append(
        "colour: grayscale (no colour augmentation)" if report.grayscale else "colour: colour"
    )
    if report.split_folders:
        lines.append("split: given by the train/ and val/ folders")
    if report.ignored:
        lines.append(
            f"skipped {len(report.ignored)} file(s) that are not images or lie outside class folders"
        )
    lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"error: {e}" for e in report.errors]
    return "\n".join(lines)


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _list(items: Iterable[str]) -> str:
    names = list(items)
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
