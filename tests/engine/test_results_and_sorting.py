from __future__ import annotations

import csv
import json
from pathlib import Path

from engine.inference.batch import FileResult
from engine.inference.results import neutralise_cell, write_results
from engine.inference.sorting import UNCERTAIN, execute_sort, folder_name, plan_sort
from engine.runtime.classifier import Prediction


def _result(path: Path, label: str, prob: float) -> FileResult:
    return FileResult(path, Prediction((label, "other"), (0, 1), (prob, 1 - prob)))


def test_csv_neutralises_formulas_and_keeps_errors(tmp_path: Path) -> None:
    rows = [
        _result(tmp_path / "a.jpg", '=HYPERLINK("x")', 0.9),
        FileResult(tmp_path / "b.jpg", error="image is truncated"),
    ]
    out = tmp_path / "r.csv"
    assert write_results(out, rows, top_k=2) == 2
    with out.open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert table[0]["label_1"].startswith("'=")
    assert float(table[0]["prob_1"]) == 0.9
    assert table[1]["error"] == "image is truncated" and table[1]["label_1"] == ""
    assert neutralise_cell("+1") == "'+1" and neutralise_cell("cat") == "cat"


def test_jsonl_and_json_rows_have_the_documented_shape(tmp_path: Path) -> None:
    rows = [_result(tmp_path / "a.jpg", "cat", 0.75), FileResult(tmp_path / "b.jpg", error="empty")]
    write_results(tmp_path / "r.jsonl", rows, top_k=2)
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines[0]["predictions"][0] == {"label": "cat", "index": 0, "prob": 0.75}
    assert lines[1] == {"path": str(tmp_path / "b.jpg"), "error": "empty"}
    write_results(tmp_path / "r.json", rows, top_k=2)
    assert json.loads((tmp_path / "r.json").read_text()) == lines


def test_sorting_copies_never_overwrite_and_uncertain_goes_aside(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.jpg").write_bytes(b"first")
    (src / "sub").mkdir()
    (src / "sub" / "x.jpg").write_bytes(b"second")
    (src / "y.jpg").write_bytes(b"third")
    dest = tmp_path / "out"
    (dest / "cat").mkdir(parents=True)
    (dest / "cat" / "x.jpg").write_bytes(b"already there")
    results = [
        _result(src / "x.jpg", "cat", 0.9),
        _result(src / "sub" / "x.jpg", "cat", 0.8),
        _result(src / "y.jpg", "cat", 0.2),
        FileResult(src / "z.jpg", error="broken"),
    ]
    plan = plan_sort(results, dest, min_confidence=0.5)
    assert plan.counts == {"cat": 2, UNCERTAIN: 1}
    assert plan.skipped_errors == 1
    report = execute_sort(plan)
    assert not report.failed
    assert (dest / "cat" / "x.jpg").read_bytes() == b"already there"
    assert sorted(p.read_bytes() for p in (dest / "cat").iterdir()) == [
        b"already there",
        b"first",
        b"second",
    ]
    assert (dest / UNCERTAIN / "y.jpg").read_bytes() == b"third"
    assert sorted(p.name for p in src.rglob("*")) == ["sub", "x.jpg", "x.jpg", "y.jpg"]
    assert not list(dest.rglob(".reslens-*"))


def test_labels_become_safe_folder_names() -> None:
    assert folder_name("a/b: c?") == "a_b_ c_"
    assert folder_name("..") == "_unnamed"
    assert folder_name("tabby, tabby cat") == "tabby, tabby cat"


def test_sorting_again_into_the_same_folder_copies_nothing_twice(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "x.jpg").write_bytes(b"first")
    (src / "sub" / "x.jpg").write_bytes(b"second")
    results = [_result(src / "x.jpg", "cat", 0.9), _result(src / "sub" / "x.jpg", "cat", 0.8)]
    dest = tmp_path / "out"
    first = execute_sort(plan_sort(results, dest))
    assert len(first.copied) == 2 and not first.already_there
    again = execute_sort(plan_sort(results, dest))  # a resumed or repeated run
    assert not again.copied and sorted(p.name for p in again.already_there) == [
        "x (2).jpg",
        "x.jpg",
    ]
    assert sorted(p.read_bytes() for p in (dest / "cat").iterdir()) == [b"first", b"second"]
    (src / "x.jpg").write_bytes(b"edited since")  # same name, new content: a new copy
    third = execute_sort(plan_sort(results[:1], dest))
    assert [p.name for p in third.copied] == ["x (3).jpg"]


def test_streamed_rows_survive_a_cut_and_assemble_in_order(tmp_path: Path) -> None:
    from engine.inference.stream import ResultsStream, codec_for, read_stored

    rows = [_result(tmp_path / f"{n}.jpg", "=cmd", 0.6) for n in "abc"]
    rows.append(FileResult(tmp_path / "d.jpg", error="=broken"))
    for suffix in (".csv", ".jsonl", ".json"):
        out = tmp_path / f"r{suffix}"
        stream = ResultsStream(out, top_k=2, model="m1")
        stream.open()
        for i, row in enumerate(rows):
            stream.write(row, (100 + i, 1.5 + i))
        stream.close()  # as after Ctrl-C: the partial file stays
        with stream.partial.open("a", encoding="utf-8") as handle:
            handle.write('"half a row')  # as after a power cut
        back = read_stored(stream.partial, codec_for(out, 2), {"=cmd": 0, "other": 1})
        assert [r.result for r in back] == rows
        assert [r.stamp for r in back] == [(100 + i, 1.5 + i) for i in range(4)]
        assert {r.model for r in back} == {"m1"}
        stream.open(back[2:])  # resume: keep the rows of c and d, add a and b again
        stream.write(rows[0], (100, 1.5))
        stream.write(rows[1], (101, 2.5))
        stream.finish([str(r.path) for r in rows])
        assert not stream.partial.exists()
        final = read_stored(out, codec_for(out, 2), {"=cmd": 0, "other": 1})
        assert [r.result for r in final] == rows, suffix
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert table[0]["label_1"] == "'=cmd" and table[3]["error"] == "'=broken"
    assert json.loads((tmp_path / "r.json").read_text())[1]["mtime"] == 2.5
