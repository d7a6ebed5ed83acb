"""The rows of a streamed results file: one line each, readable back for ``--resume``.

A row is one file's result plus what resuming needs: the file's size and modification time
when it was classified, and the short id of the model that classified it
(:class:`~engine.inference.identity.ModelIdentity`). JSON Lines rows are
``{"path", "predictions" | "error", "size", "mtime", "model"}``; CSV rows have the columns
``path, label_1, prob_1 ... label_k, prob_k, error, size, mtime, model``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.inference.batch import FileResult
from engine.inference.results import neutralise_cell
from engine.runtime.classifier import Prediction

Stamp = tuple[int, float]
"""(size in bytes, modification time in seconds) of a file when it was classified."""


@dataclass(frozen=True)
class StoredRow:
    """One row read back: ``line`` is its exact text, to copy it on unchanged."""

    path: str
    stamp: Stamp | None
    model: str
    result: FileResult
    line: str


class JsonLinesRows:
    """Rows as JSON objects, one per line (also the streamed form of a ``.json`` array)."""

    header: str | None = None

    def encode(self, result: FileResult, stamp: Stamp | None, model: str) -> str:
        row = result.to_dict()
        row["size"], row["mtime"] = stamp if stamp else (None, None)
        row["model"] = model
        return json.dumps(row, ensure_ascii=False) + "\n"

    def decode(self, line: str, class_names: Mapping[str, int]) -> StoredRow | None:
        try:
            row = json.loads(line)
            return row_from_dict(row, line if line.endswith("\n") else line + "\n")
        except (ValueError, TypeError, KeyError):
            return None

    def records(self, text: str) -> Iterator[str]:
        yield from text.splitlines(keepends=True)


class CsvRows:
    """Rows as CSV records; labels and paths are neutralised against spreadsheet formulas."""

    def __init__(self, top_k: int) -> None:
        self.top_k = top_k
        names = ["path"]
        for i in range(1, top_k + 1):
            names += [f"label_{i}", f"prob_{i}"]
        self.columns = [*names, "error", "size", "mtime", "model"]
        self.header = _csv_line(self.columns)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def encode(self, result: FileResult, stamp: Stamp | None, model: str) -> str:
        pairs: list[str] = []
        if result.prediction is not None:
            for label, prob in zip(result.prediction.labels, result.prediction.probs, strict=True):
                pairs += [neutralise_cell(label), f"{prob:.6f}"]
        pairs += [""] * (2 * self.top_k - len(pairs))
        size, mtime = (str(stamp[0]), repr(stamp[1])) if stamp else ("", "")
        error = neutralise_cell(result.error or "")
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(
            [neutralise_cell(str(result.path)), *pairs, error, size, mtime, model]
        )
        return self._buffer.getvalue()

    def decode(self, line: str, class_names: Mapping[str, int]) -> StoredRow | None:
        fields = next(csv.reader(io.StringIO(line)), [])
        if len(fields) != len(self.columns) or fields == self.columns:
            return None
        try:
            return self._row(fields, line, class_names)
        except ValueError:
            return None

    def records(self, text: str) -> Iterator[str]:
        """Each CSV record's text (a quoted path may hold a line break)."""
        reader = csv.reader(io.StringIO(text))
        try:
            for fields in reader:
                yield _csv_line(fields)
        except csv.Error:  # a record cut off inside quotes: the rest is half-written
            return

    def _row(self, fields: list[str], line: str, class_names: Mapping[str, int]) -> StoredRow:
        path, cells = _plain(fields[0]), fields[1 : 1 + 2 * self.top_k]
        error, size, mtime, model = fields[1 + 2 * self.top_k :]
        labels = tuple(_plain(x) for x in cells[0::2] if x)
        probs = tuple(float(x) for x in cells[1::2] if x)
        if error or not labels:
            result = FileResult(Path(path), error=_plain(error) or "no prediction")
        else:
            indices = tuple(class_names.get(label, -1) for label in labels)
            result = FileResult(Path(path), Prediction(labels, indices, probs))
        stamp = (int(size), _finite(float(mtime))) if size else None
        return StoredRow(path, stamp, model, result, line)


def row_from_dict(row: dict[str, Any], line: str) -> StoredRow:
    """A JSON row (a line of JSON Lines or an item of a ``.json`` array) read back."""
    path = str(row["path"])
    if "predictions" in row:
        preds = row["predictions"]
        prediction = Prediction(
            tuple(str(p["label"]) for p in preds),
            tuple(int(p["index"]) for p in preds),
            tuple(float(p["prob"]) for p in preds),
        )
        result = FileResult(Path(path), prediction)
    else:
        result = FileResult(Path(path), error=str(row.get("error") or "no prediction"))
    size, mtime = row.get("size"), row.get("mtime")
    stamp = (int(size), _finite(float(mtime))) if size is not None and mtime is not None else None
    return StoredRow(path, stamp, str(row.get("model", "")), result, line)


def complete_text(text: str) -> str:
    """``text`` without a half-written last line (what a kill or power cut leaves)."""
    end = text.rfind("\n")
    return text[: end + 1]


def _csv_line(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(fields)
    return buffer.getvalue()


def _plain(cell: str) -> str:
    """Undo :func:`neutralise_cell`."""
    return cell[1:] if cell.startswith("'") and neutralise_cell(cell[1:]) == cell else cell


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value
