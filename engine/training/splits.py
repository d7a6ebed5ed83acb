"""Train / validation / test splits: stratified by class, grouped, seeded, leak-free, and
recorded with the model.

The unit of a split is a *cluster*: samples that share a group (a patient, see
:mod:`engine.training.groups`), identical content, or a near-identical picture
(:mod:`engine.training.neardup`), joined transitively. A cluster never straddles two splits,
so validation never scores an image (or a patient) the network trained on. Clusters are
stratified by their majority class. When the user split the data into folders, that split is
used as it is; a missing ``val/`` folder is carved out of ``train/`` the same way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine.atomic import atomic_write_text
from engine.errors import DatasetError
from engine.training.health import assess
from engine.training.scan import DatasetScan, Sample

SplitName = Literal["train", "val", "test"]
SPLIT_CSV_SUFFIX = ".split.csv"


@dataclass(frozen=True)
class DataSplit:
    """Which samples train, which validate, which test (each tuple in scan order)."""

    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    test: tuple[Sample, ...]
    source: Literal["random", "folders", "folds"]
    seed: int
    val_fraction: float
    test_fraction: float
    group_by: str = "auto"
    notes: tuple[str, ...] = ()  # what the user should know (a class too small to split ...)

    def manifest(self, root: Path, class_names: tuple[str, ...]) -> list[dict[str, str]]:
        """One record per file: path relative to ``root`` (POSIX), class, split, sha256, group."""
        return [
            {
                "path": _relative(root, s.path),
                "label": class_names[s.label],
                "split": split,
                "sha256": s.sha256,
                "group": s.group,
            }
            for split, samples in (("train", self.train), ("val", self.val), ("test", self.test))
            for s in samples
        ]

    def describe(self) -> str:
        how = {"folders": "your folders", "folds": "cross-validation fold"}.get(
            self.source, f"random, seed {self.seed}"
        )
        test = f", {len(self.test)} test" if self.test else ""
        return f"{len(self.train)} train, {len(self.val)} validation{test} images ({how})"

    def to_dict(self, root: Path, class_names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "source": self.source,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "group_by": self.group_by,
            "notes": list(self.notes),
            "files": self.manifest(root, class_names),
        }


def fingerprint(manifest: list[dict[str, str]]) -> str:
    """A short hash of a manifest: equal fingerprints mean the same files in the same splits
    (groups left out, so a state saved before groups existed still resumes)."""
    keys = ("path", "label", "split", "sha256")
    core = [{k: record[k] for k in keys} for record in manifest]
    text = json.dumps(core, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_csv_path(model_path: Path) -> Path:
    """``model.reslens`` -> ``model.split.csv``."""
    return model_path.with_suffix(SPLIT_CSV_SUFFIX)


def write_split_csv(path: Path, split: DataSplit, root: Path) -> None:
    """``path,split,group`` for every file (paths relative to ``root``), written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "split", "group"])
    for name, samples in (("train", split.train), ("val", split.val), ("test", split.test)):
        writer.writerows([_relative(root, s.path), name, s.group] for s in samples)
    atomic_write_text(path, buffer.getvalue())


def split_dataset(
    scan: DatasetScan, *, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0
) -> DataSplit:
    """Split ``scan``'s samples by cluster, stratified by class, reproducibly for ``seed``.

    Each class keeps at least one cluster for training and, when it has two or more, one for
    validation. Raises :class:`DatasetError` if the data set is unusable (see its health).
    """
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError("need 0 < val_fraction, 0 <= test_fraction, and their sum < 1")
    assess(scan).raise_if_unusable()
    source: Literal["random", "folders", "folds"]
    if scan.split_folders:
        by_folder: dict[str | None, list[Sample]] = defaultdict(list)
        for sample in scan.samples:
            by_folder[sample.folder_split].append(sample)
        pool = by_folder["train"]
        val_share = 0.0 if by_folder["val"] else val_fraction
        test_share = 0.0 if by_folder["test"] else test_fraction
        clusters = clusters_of(scan, pool)
        train, val, test = _random_split(clusters, val_share, test_share, seed)
        val_part = tuple(by_folder["val"]) or _in_order(pool, val)
        test_part = tuple(by_folder["test"]) or _in_order(pool, test)
        parts, source = (_in_order(pool, train), val_part, test_part), "folders"
        shares = (val_share, test_share)  # what was carved out of train/
    else:
        pool = list(scan.samples)
        clusters = clusters_of(scan, pool)
        train, val, test = _random_split(clusters, val_fraction, test_fraction, seed)
        parts = (_in_order(pool, train), _in_order(pool, val), _in_order(pool, test))
        source, shares = "random", (val_fraction, test_fraction)
    notes = _too_few_notes(scan, clusters, *shares, parts)
    split = DataSplit(
        *parts,
        source,
        seed,
        val_fraction,
        test_fraction,
        scan.group_by,
        notes,  # type: ignore[arg-type]
    )
    if not split.val:
        raise DatasetError("No images are left for validation; add images or a val/ folder.")
    return split


def fold_splits(scan: DatasetScan, split: DataSplit, folds: int) -> list[DataSplit]:
    """``folds`` grouped, stratified cross-validation splits of ``split``'s train + val
    samples (its test samples stay aside): fold i validates on the i-th share of each
    class's clusters and trains on the rest."""
    chosen = {s.path for s in split.train + split.val}
    pool = [s for s in scan.samples if s.path in chosen]
    clusters = clusters_of(scan, pool)
    by_class = _by_class(clusters)
    rng = np.random.default_rng((split.seed, folds))
    fold_of: dict[Path, int] = {}
    offset = 0
    for label in sorted(by_class):
        members = by_class[label]
        for rank, index in enumerate(rng.permutation(len(members))):
            fold_of.update((s.path, (offset + rank) % folds) for s in members[index])
        offset += len(members)  # the next class starts where this one stopped: even folds
    if len(set(fold_of.values())) < folds:
        raise DatasetError(
            f"Only {len(clusters)} groups can be split, fewer than --folds {folds}; use fewer folds."
        )
    return [
        DataSplit(
            tuple(s for s in pool if fold_of[s.path] != k),
            tuple(s for s in pool if fold_of[s.path] == k),
            split.test,
            "folds",
            split.seed,
            1 / folds,
            split.test_fraction,
            split.group_by,
        )
        for k in range(folds)
    ]


def clusters_of(scan: DatasetScan, pool: Sequence[Sample]) -> list[list[Sample]]:
    """``pool`` in clusters (same group, same content or near-identical, transitively), each
    in scan order, ordered by their first member."""
    index = {s.path: i for i, s in enumerate(pool)}
    parent = list(range(len(pool)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: dict[tuple[str, str], int] = {}
    for i, sample in enumerate(pool):
        for key in (("sha", sample.sha256), ("group", sample.group)):
            join(i, first.setdefault(key, i))
    for a, b in scan.near_pairs:
        near = index.get(scan.samples[a].path), index.get(scan.samples[b].path)
        if near[0] is not None and near[1] is not None:
            join(near[0], near[1])
    clusters: dict[int, list[Sample]] = defaultdict(list)
    for i, sample in enumerate(pool):
        clusters[root(i)].append(sample)
    return list(clusters.values())


def _by_class(clusters: list[list[Sample]]) -> dict[int, list[list[Sample]]]:
    """Clusters by their majority class (ties: the lowest label)."""
    by_class: dict[int, list[list[Sample]]] = defaultdict(list)
    for cluster in clusters:
        counts = Counter(s.label for s in cluster)
        label = min(counts, key=lambda k: (-counts[k], k))
        by_class[label].append(cluster)
    return by_class


def _random_split(
    clusters: list[list[Sample]], val_fraction: float, test_fraction: float, seed: int
) -> tuple[set[Path], set[Path], set[Path]]:
    by_class = _by_class(clusters)
    rng = np.random.default_rng(seed)
    parts: tuple[set[Path], set[Path], set[Path]] = (set(), set(), set())
    for label in sorted(by_class):
        class_clusters = by_class[label]
        order = rng.permutation(len(class_clusters))
        n_val, n_test = _counts(len(class_clusters), val_fraction, test_fraction)
        for rank, index in enumerate(order):
            part = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
            parts[part].update(s.path for s in class_clusters[index])
    return parts


def _counts(groups: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(validation, test) cluster counts for one class, leaving at least one to train on."""
    n_val = max(1, round(groups * val_fraction)) if val_fraction and groups >= 2 else 0
    n_test = max(1, round(groups * test_fraction)) if test_fraction and groups >= 3 else 0
    while n_val + n_test >= groups and (n_val > 1 or n_test > 0):
        if n_test:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def _too_few_notes(
    scan: DatasetScan,
    clusters: list[list[Sample]],
    val_fraction: float,
    test_fraction: float,
    parts: tuple[tuple[Sample, ...], ...],
) -> tuple[str, ...]:
    """Say which classes have too few groups to appear in every split, and what to do."""
    notes = []
    for label, members in sorted(_by_class(clusters).items()):
        name = scan.class_names[label]
        missing = [
            what
            for what, share, part in (("validation", val_fraction, parts[1]),
                                      ("test", test_fraction, parts[2]))
            if share and not any(s.label == label for s in part)
        ]  # fmt: skip
        if missing:
            notes.append(
                f"Class {name!r} has only {len(members)} separate group(s) (patients, or sets of "
                f"identical images), too few to also put one in {' and '.join(missing)}: its "
                f"{' and '.join(missing)} figures are missing. Add images from more patients, "
                "or give train/ and val/ folders."
            )
    return tuple(notes)


def _in_order(samples: Sequence[Sample], chosen: set[Path]) -> tuple[Sample, ...]:
    return tuple(s for s in samples if s.path in chosen)


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
