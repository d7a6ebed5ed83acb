"""Stream results to ``OUT.partial`` as they come; ``OUT`` appears complete, in one step.

Rows are appended and flushed after every batch (and synced to disk every few seconds), so
an interrupted run keeps every finished row. ``--resume`` reads them back
(:func:`read_stored`); :meth:`ResultsStream.finish` turns the partial file into ``OUT``.
A ``.json`` array is streamed as JSON Lines and assembled at the end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

from engine.atomic import atomic_open
from engine.errors import EngineError
from engine.inference.batch import FileResult
from engine.inference.rowfile import (
    CsvRows,
    JsonLinesRows,
    Stamp,
    StoredRow,
    complete_text,
    row_from_dict,
)

PARTIAL_SUFFIX = ".partial"
SYNC_EVERY_S = 2.0
"""Rows reach the disk (fsync) at least this often: a power cut loses no more than this."""
FLUSH_EVERY_S = 1.0
"""Rows reach the OS at least this often even from a source that reports no batches."""

RowCodec = JsonLinesRows | CsvRows


class ResumeRefused(EngineError):
    """The results file to continue was made by another model, or is not ours."""


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL_SUFFIX)


def codec_for(out: Path, top_k: int) -> RowCodec:
    return CsvRows(top_k) if out.suffix.lower() == ".csv" else JsonLinesRows()


def read_stored(
    path: Path, codec: RowCodec, class_names: Mapping[str, int] | None = None
) -> list[StoredRow]:
    """The complete rows of a partial or finished results file; a half-written last line
    (after a kill or power cut) and unreadable rows are dropped.

    Raises :class:`ResumeRefused` when a CSV file's columns are not this run's.
    """
    names = class_names or {}
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".json":  # a finished JSON array
        return _json_array_rows(path, text)
    records = codec.records(complete_text(text))
    if codec.header is not None:
        first = next(records, None)
        if first is not None and first != codec.header:
            raise ResumeRefused(
                f"{path} has other columns than this run writes (another --top-k?); "
                "continue it with the options it was made with, or choose another --out."
            )
    rows = (codec.decode(record, names) for record in records)
    return [row for row in rows if row is not None]


def _json_array_rows(path: Path, text: str) -> list[StoredRow]:
    try:
        items = json.loads(text)
        rows = [row_from_dict(item, json.dumps(item, ensure_ascii=False) + "\n") for item in items]
    except (ValueError, TypeError, KeyError) as exc:
        raise ResumeRefused(f"{path} is not a ResLens results file ({exc}).") from exc
    return rows


class ResultsStream:
    """Appends rows to ``OUT.partial``; ``finish`` makes it ``OUT``; ``close`` keeps it."""

    def __init__(self, out: Path, *, top_k: int, model: str) -> None:
        self.out = out
        self.partial = partial_path(out)
        self.codec = codec_for(out, top_k)
        self.model = model
        self.rows = 0
        self._handle: IO[str] | None = None
        self._synced = self._flushed = time.monotonic()

    def open(self, kept: Iterable[StoredRow] = ()) -> None:
        """Start ``OUT.partial`` with the header and the ``kept`` rows, then append."""
        with atomic_open(self.partial, "w", encoding="utf-8", newline="") as handle:
            if self.codec.header is not None:
                handle.write(self.codec.header)
            for row in kept:
                handle.write(row.line)
                self.rows += 1
        self._handle = self.partial.open("a", encoding="utf-8", newline="")

    def write(self, result: FileResult, stamp: Stamp | None) -> None:
        if self._handle is None:
            raise ValueError("ResultsStream.open() first")
        self._handle.write(self.codec.encode(result, stamp, self.model))
        self.rows += 1
        if time.monotonic() - self._flushed >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Hand the rows written so far to the OS (they survive a kill); sync now and then."""
        if self._handle is None:
            return
        self._handle.flush()
        self._flushed = time.monotonic()
        if self._flushed - self._synced >= SYNC_EVERY_S:
            os.fsync(self._handle.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        """Keep ``OUT.partial`` with every row written (after an interruption or error)."""
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        try:
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            handle.close()

    def finish(self, order: Sequence[str] | None = None) -> None:
        """Make ``OUT``: the partial file renamed, or its rows rewritten in ``order`` (paths).

        ``order`` None: the rows were written in their final order. A ``.json`` array is
        always assembled from the streamed lines.
        """
        self.close()
        if order is None and self.out.suffix.lower() != ".json":
            os.replace(self.partial, self.out)
            return
        if order is None:  # a .json array of rows already in order: no need to parse them
            lines = complete_text(self.partial.read_text(encoding="utf-8")).splitlines(True)
        else:
            by_path = {row.path: row.line for row in read_stored(self.partial, self.codec)}
            lines = [by_path[path] for path in order if path in by_path]
        with atomic_open(self.out, "w", encoding="utf-8", newline="") as handle:
            _write_final(handle, lines, self.codec, json_array=self.out.suffix.lower() == ".json")
        self.partial.unlink()


def _write_final(
    handle: IO[str], lines: Sequence[str], codec: RowCodec, *, json_array: bool
) -> None:
    """Write the rows (each line with its line break) as the final file."""
    if not json_array:
        if codec.header is not None:
            handle.write(codec.header)
        handle.writelines(lines)
        return
    handle.write("[\n")
    handle.write(",\n".join(line.rstrip("\n") for line in lines))
    handle.write("\n]\n" if lines else "]\n")
