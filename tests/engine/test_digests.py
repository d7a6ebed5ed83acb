"""Weights digests are remembered, and never trusted once the file changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from engine.onnx.digests import file_digest


def test_digest_is_the_sha256_and_is_remembered_per_file(tmp_path: Path) -> None:
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"w" * 5000)
    memo = tmp_path / "digests"
    expected = hashlib.sha256(b"w" * 5000).hexdigest()
    assert file_digest(weights, memo) == expected
    assert len(list(memo.iterdir())) == 1
    assert file_digest(weights, memo) == expected
    assert file_digest(weights) == expected  # no memo folder: hashed now


def test_a_rewritten_file_is_hashed_again_even_with_its_old_size_and_time(tmp_path: Path) -> None:
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"a" * 4096)
    memo = tmp_path / "digests"
    before = file_digest(weights, memo)
    stat = weights.stat()
    weights.write_bytes(b"b" * 4096)  # same size
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old modification time
    assert file_digest(weights, memo) == hashlib.sha256(b"b" * 4096).hexdigest() != before


def test_a_damaged_memo_is_ignored_and_rewritten(tmp_path: Path) -> None:
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"c" * 100)
    memo = tmp_path / "digests"
    file_digest(weights, memo)
    (record,) = memo.iterdir()
    record.write_text("{not json")
    assert file_digest(weights, memo) == hashlib.sha256(b"c" * 100).hexdigest()
    assert record.read_text().startswith("{")
    assert "sha256" in record.read_text()
