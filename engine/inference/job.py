"""The classify job: inputs -> results from a pluggable source -> streamed, resumable rows.

The source of results is a function from the paths still to do to an iterator of
:class:`FileResult`, one per path in input order: this machine
(:func:`local_source`) or a cluster (``engine.scale.ray_classify.classify_on_ray``). What is
done with the rows (``OUT.partial``, ``--resume``, the final order) is the same for both.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.inference.batch import FileResult, classify_files
from engine.inference.identity import ModelIdentity
from engine.inference.rowfile import Stamp, StoredRow
from engine.inference.stream import ResultsStream, ResumeRefused, partial_path, read_stored
from engine.jobs import CancelToken, Progress
from engine.runtime.classifier import Classifier

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
ResultSource = Callable[
    [Sequence[Path], CancelToken | None, ProgressCallback | None], Iterator[FileResult]
]
"""(paths to do, cancel, on_progress) -> one FileResult per path, in input order."""


def local_source(classifier: Classifier, *, top_k: int, batch_size: int) -> ResultSource:
    """Classify on this machine (see :func:`engine.inference.batch.classify_files`)."""

    def source(
        paths: Sequence[Path], cancel: CancelToken | None, on_progress: ProgressCallback | None
    ) -> Iterator[FileResult]:
        return classify_files(
            classifier,
            paths,
            top_k=top_k,
            batch_size=batch_size,
            cancel=cancel,
            on_progress=on_progress,
        )

    return source


def file_stamp(path: Path) -> Stamp | None:
    """(size, mtime) of ``path``, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime


@dataclass(frozen=True)
class ResumePlan:
    """What an earlier run left: the rows to keep and the paths still to classify."""

    kept: tuple[StoredRow, ...]
    todo: tuple[Path, ...]
    dropped: int  # rows of files no longer named, changed since, or failed (tried again)


def plan_resume(
    out: Path,
    images: Sequence[Path],
    stamps: dict[Path, Stamp | None],
    identity: ModelIdentity,
    stream: ResultsStream,
) -> ResumePlan:
    """Read ``OUT.partial`` (else a finished ``OUT``) and decide what is left to do.

    A file counts as done when its row holds a prediction and the file still has the size and
    modification time it had then. Raises :class:`ResumeRefused` when a row was made by
    another model (architecture, weights, top-k or preprocessing differ).
    """
    source = next((p for p in (partial_path(out), out) if p.is_file()), None)
    if source is None:
        return ResumePlan((), tuple(images), 0)
    rows = read_stored(source, stream.codec)
    for row in rows:
        if row.model != identity.id:
            raise ResumeRefused(
                f"{source} was made by another model (id {row.model or 'unknown'}; this run: "
                f"{identity.id} = {identity.describe()}); resume it with the same --model, "
                "--weights and --top-k, or choose another --out."
            )
    wanted = {str(path): stamps.get(path) for path in images}
    kept: dict[str, StoredRow] = {}
    for row in rows:
        if row.result.ok and row.stamp is not None and wanted.get(row.path) == row.stamp:
            kept.setdefault(row.path, row)
    todo = tuple(path for path in images if str(path) not in kept)
    return ResumePlan(tuple(kept.values()), todo, len(rows) - len(kept))


class ClassifyJob:
    """One run: ``extra`` rows (named paths that are not images) then one row per image.

    With ``out``, rows stream to ``OUT.partial`` and :attr:`rows_kept` says how many it holds
    at any moment (also after an interruption); without, rows only go to ``on_row``.
    """

    def __init__(
        self,
        images: Sequence[Path],
        *,
        identity: ModelIdentity,
        extra: Sequence[FileResult] = (),
        out: Path | None = None,
        resume: bool = False,
    ) -> None:
        self.images = list(images)
        self.extra = list(extra)
        self.identity = identity
        self.stream = ResultsStream(out, top_k=identity.top_k, model=identity.id) if out else None
        self.resume = resume
        self.stamps: dict[Path, Stamp | None] = {path: file_stamp(path) for path in self.images}
        self.plan = ResumePlan((), tuple(self.images), 0)
        if self.stream is not None and resume:
            self.plan = plan_resume(
                self.stream.out, self.images, self.stamps, identity, self.stream
            )

    @property
    def rows_kept(self) -> int:
        return 0 if self.stream is None else self.stream.rows

    @property
    def todo(self) -> tuple[Path, ...]:
        return self.plan.todo

    def run(
        self,
        source: ResultSource,
        *,
        cancel: CancelToken | None = None,
        on_progress: ProgressCallback | None = None,
        on_row: Callable[[FileResult], None] | None = None,
    ) -> int:
        """Classify what is left; return how many rows failed. ``OUT`` is complete on return;
        on any exception ``OUT.partial`` keeps every finished row and the exception goes on."""
        stream = self.stream
        if stream is not None:
            stream.open(self.plan.kept)

        def progress(p: Progress) -> None:
            if stream is not None:
                stream.flush()
            if on_progress is not None:
                on_progress(p)

        failed = 0
        try:
            for result in itertools.chain(self.extra, source(self.todo, cancel, progress)):
                failed += not result.ok
                if stream is not None:
                    stream.write(result, self.stamps.get(result.path))
                if on_row is not None:
                    on_row(result)
        except BaseException:
            if stream is not None:
                stream.close()
            raise
        if stream is not None:
            stream.finish(None if not self.plan.kept else self.final_order())
        return failed

    def final_order(self) -> list[str]:
        """The order of an uninterrupted run: the extra rows, then the images as walked."""
        return [str(r.path) for r in self.extra] + [str(p) for p in self.images]
