"""Train / validation / test splits: stratified, seeded, leak-free, and recorded with the model.

Exact duplicates (same file content) always land in the same split, so validation never
scores an image the network trained on. When the user split the data into folders, that split
is used as it is; a missing ``val/`` folder is carved out of ``train/`` the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine.errors import DatasetError
from engine.training.health import assess
from engine.training.scan import DatasetScan, Sample

SplitName = Literal["train", "val", "test"]


@dataclass(frozen=True)
class DataSplit:
    """Which samples train, which validate, which test (each tuple in scan order)."""

    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    test: tuple[Sample, ...]
    source: Literal["random", "folders"]
    seed: int
    val_fraction: float
    test_fraction: float

    def manifest(self, root: Path, class_names: tuple[str, ...]) -> list[dict[str, str]]:
        """One record per file: path relative to ``root`` (POSIX), class, split, sha256."""
        return [
            {
                "path": _relative(root, s.path),
                "label": class_names[s.label],
                "split": split,
                "sha256": s.sha256,
            }
            for split, samples in (("train", self.train), ("val", self.val), ("test", self.test))
            for s in samples
        ]

    def describe(self) -> str:
        how = "your folders" if self.source == "folders" else f"random, seed {self.seed}"
        test = f", {len(self.test)} test" if self.test else ""
        return f"{len(self.train)} train, {len(self.val)} validation{test} images ({how})"

    def to_dict(self, root: Path, class_names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "source": self.source,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "files": self.manifest(root, class_names),
        }


def fingerprint(manifest: list[dict[str, str]]) -> str:
    """A short hash of a manifest: equal fingerprints mean the same files in the same splits."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_dataset(
    scan: DatasetScan, *, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0
) -> DataSplit:
    """Split ``scan``'s samples, stratified by class, reproducibly for a given ``seed``.

    Each class keeps at least one image for training and, when it has two or more, one for
    validation. Raises :class:`DatasetError` if the data set is unusable (see its health).
    """
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError("need 0 < val_fraction, 0 <= test_fraction, and their sum < 1")
    assess(scan).raise_if_unusable()
    if scan.split_folders:
        by_folder: dict[str | None, list[Sample]] = defaultdict(list)
        for sample in scan.samples:
            by_folder[sample.folder_split].append(sample)
        pool = by_folder["train"]
        val_share = 0.0 if by_folder["val"] else val_fraction
        test_share = 0.0 if by_folder["test"] else test_fraction
        train, val, test = _random_split(pool, val_share, test_share, seed)
        split = DataSplit(
            _in_order(pool, train),
            tuple(by_folder["val"]) or _in_order(pool, val),
            tuple(by_folder["test"]) or _in_order(pool, test),
            "folders",
            seed,
            val_fraction,
            test_fraction,
        )
    else:
        samples = list(scan.samples)
        train, val, test = _random_split(samples, val_fraction, test_fraction, seed)
        split = DataSplit(
            _in_order(samples, train),
            _in_order(samples, val),
            _in_order(samples, test),
            "random",
            seed,
            val_fraction,
            test_fraction,
        )
    if not split.val:
        raise DatasetError("No images are left for validation; add images or a val/ folder.")
    return split


def _random_split(
    samples: list[Sample], val_fraction: float, test_fraction: float, seed: int
) -> tuple[set[Path], set[Path], set[Path]]:
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.sha256].append(sample)
    by_class: dict[int, list[list[Sample]]] = defaultdict(list)
    for group in groups.values():
        by_class[group[0].label].append(group)
    rng = np.random.default_rng(seed)
    parts: tuple[set[Path], set[Path], set[Path]] = (set(), set(), set())
    for label in sorted(by_class):
        class_groups = by_class[label]
        order = rng.permutation(len(class_groups))
        n_val, n_test = _counts(len(class_groups), val_fraction, test_fraction)
        for rank, index in enumerate(order):
            part = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
            parts[part].update(s.path for s in class_groups[index])
    return parts


def _counts(groups: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(validation, test) group counts for one class, leaving at least one to train on."""
    n_val = max(1, round(groups * val_fraction)) if val_fraction and groups >= 2 else 0
    n_test = max(1, round(groups * test_fraction)) if test_fraction and groups >= 3 else 0
    while n_val + n_test >= groups and (n_val > 1 or n_test > 0):
        if n_test:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def _in_order(samples: list[Sample], chosen: set[Path]) -> tuple[Sample, ...]:
    return tuple(s for s in samples if s.path in chosen)


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
