"""Write classification results as CSV, JSON Lines or JSON, atomically and spreadsheet-safe."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from engine.atomic import atomic_open
from engine.inference.batch import FileResult

FORMATS = (".csv", ".jsonl", ".json")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """Stop a spreadsheet from running a cell as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


class ResultWriter(Protocol):
    def write(self, result: FileResult) -> None: ...


class CsvResultWriter:
    """Columns: path, label_1, prob_1 ... label_k, prob_k, error."""

    def __init__(self, handle: IO[str], top_k: int) -> None:
        self._top_k = top_k
        self._csv = csv.writer(handle)
        header = ["path"]
        for i in range(1, top_k + 1):
            header += [f"label_{i}", f"prob_{i}"]
        self._csv.writerow([*header, "error"])

    def write(self, result: FileResult) -> None:
        row: list[str] = [neutralise_cell(str(result.path))]
        pairs: list[str] = []
        if result.prediction is not None:
            for label, prob in zip(result.prediction.labels, result.prediction.probs, strict=True):
                pairs += [neutralise_cell(label), f"{prob:.6f}"]
        pairs += [""] * (2 * self._top_k - len(pairs))
        self._csv.writerow([*row, *pairs[: 2 * self._top_k], neutralise_cell(result.error or "")])


class JsonLinesResultWriter:
    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    def write(self, result: FileResult) -> None:
        self._handle.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")


class JsonArrayResultWriter:
    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self._first = True
        handle.write("[\n")

    def write(self, result: FileResult) -> None:
        sep = "" if self._first else ",\n"
        self._first = False
        self._handle.write(sep + json.dumps(result.to_dict(), ensure_ascii=False))

    def finish(self) -> None:
        self._handle.write("\n]\n")


@contextmanager
def open_result_writer(path: str | Path, *, top_k: int) -> Iterator[ResultWriter]:
    """A writer chosen by the file's suffix; the file appears only once complete."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"Unknown results format {suffix!r}; use one of {', '.join(FORMATS)}.")
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        if suffix == ".csv":
            yield CsvResultWriter(handle, top_k)
        elif suffix == ".jsonl":
            yield JsonLinesResultWriter(handle)
        else:
            writer = JsonArrayResultWriter(handle)
            yield writer
            writer.finish()


def write_results(path: str | Path, results: Iterable[FileResult], *, top_k: int) -> int:
    """Write all ``results`` to ``path``; return how many rows were written."""
    count = 0
    with open_result_writer(path, top_k=top_k) as writer:
        for result in results:
            writer.write(result)
            count += 1
    return count
