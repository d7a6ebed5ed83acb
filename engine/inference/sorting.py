"""Sort COPIES of classified images into one folder per class.

The user's files are only read: each is copied to ``<dest>/<label>/`` (or ``_uncertain/`` below
a confidence threshold). An existing file is never overwritten: a clash gets a " (2)" suffix,
unless the file there has the same content, which counts as already copied; so sorting again
into the same folder (an interrupted run, a resumed one) makes no duplicates. Plan first (so a
GUI can say how many files go where), then copy.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import EngineError
from engine.inference.batch import FileResult
from engine.jobs import CancelToken

UNCERTAIN = "_uncertain"
_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]')


def folder_name(label: str) -> str:
    """A class label as a folder name that is valid on Windows, macOS and Linux."""
    name = _UNSAFE.sub("_", label).strip().rstrip(".")
    return name if name and name not in (".", "..") else "_unnamed"


def source_containing(destination: str | Path, sources: Iterable[str | Path]) -> Path | None:
    """The folder of ``sources`` that ``destination`` is (or lies inside), else None.

    Copies sorted into a folder being classified would be found again by the next walk of it
    (and sorted again, and again); so ResLens never sorts into one.
    """
    target = Path(destination).expanduser().resolve()
    for source in sources:
        folder = Path(source).expanduser().resolve()
        if not folder.is_file() and (target == folder or folder in target.parents):
            return folder
    return None


def check_destination(destination: str | Path, sources: Iterable[str | Path]) -> None:
    """Raise :class:`EngineError` when ``destination`` is inside a folder being classified."""
    inside = source_containing(destination, sources)
    if inside is not None:
        raise EngineError(
            f"{destination} is inside {inside}, which holds the images being sorted; "
            "choose a folder outside it."
        )


@dataclass(frozen=True)
class SortPlan:
    destination: Path
    copies: tuple[tuple[Path, str], ...]  # (source file, folder name under destination)
    skipped_errors: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(folder for _, folder in self.copies).most_common())

    def describe(self) -> str:
        parts = ", ".join(f"{n} to {folder}" for folder, n in self.counts.items())
        return f"{len(self.copies)} files into {self.destination}: {parts}" if parts else "nothing"


@dataclass(frozen=True)
class SortReport:
    copied: tuple[Path, ...]
    failed: tuple[tuple[Path, str], ...] = field(default_factory=tuple)
    already_there: tuple[Path, ...] = ()  # identical copies found in place, not copied again


def plan_sort(
    results: Iterable[FileResult], destination: str | Path, *, min_confidence: float | None = None
) -> SortPlan:
    """Decide where each successfully classified file goes; failed files are left out."""
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ValueError("min_confidence must lie in [0, 1]")
    copies: list[tuple[Path, str]] = []
    errors = 0
    for result in results:
        if result.prediction is None:
            errors += 1
            continue
        uncertain = min_confidence is not None and result.prediction.prob < min_confidence
        copies.append(
            (result.path, UNCERTAIN if uncertain else folder_name(result.prediction.label))
        )
    return SortPlan(Path(destination), tuple(copies), errors)


def execute_sort(
    plan: SortPlan,
    *,
    cancel: CancelToken | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SortReport:
    """Copy each planned file; a file that cannot be copied is reported, the rest go on.

    A file whose identical copy is already in its folder (under its name or a " (n)" one) is
    not copied again: it is listed in ``already_there``.
    """
    copied: list[Path] = []
    there: list[Path] = []
    failed: list[tuple[Path, str]] = []
    for done, (source, folder) in enumerate(plan.copies, start=1):
        if cancel is not None:
            cancel.raise_if_cancelled("Sorting")
        try:
            target = plan.destination / folder
            existing = identical_copy(source, target)
            if existing is not None:
                there.append(existing)
            else:
                copied.append(copy_without_overwrite(source, target))
        except OSError as exc:
            failed.append((source, exc.strerror or str(exc)))
        if on_progress is not None:
            on_progress(done, len(plan.copies))
    return SortReport(tuple(copied), tuple(failed), tuple(there))


def identical_copy(source: Path, folder: Path) -> Path | None:
    """The file in ``folder`` named like ``source`` (or with a " (n)" suffix) whose bytes
    are those of ``source``, if there is one."""
    for candidate in _candidates(folder, source.name):
        if not candidate.exists():
            return None
        if candidate.is_file() and filecmp.cmp(source, candidate, shallow=False):
            return candidate
    return None  # unreachable: _candidates is endless and ends at the first free name


def copy_without_overwrite(source: Path, folder: Path) -> Path:
    """Copy ``source`` into ``folder`` under a name no file has yet; return the new path.

    The copy is written to a temporary file first and then linked into place, which fails
    instead of overwriting when another file took the name meanwhile.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".reslens-", suffix=".part", dir=folder)
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        for candidate in _candidates(folder, source.name):
            try:
                os.link(tmp, candidate)
                return candidate
            except FileExistsError:
                continue
            except OSError:  # file systems without hard links (FAT, some shares)
                if not candidate.exists():
                    os.replace(tmp, candidate)
                    return candidate
        raise OSError("no free file name")  # unreachable: _candidates is endless
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _candidates(folder: Path, name: str) -> Iterable[Path]:
    stem, suffix = os.path.splitext(name)
    yield folder / name
    n = 2
    while True:
        yield folder / f"{stem} ({n}){suffix}"
        n += 1
