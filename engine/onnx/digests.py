"""sha256 of weights files, remembered while the file stays the same.

Cache keys and result-file identities name a model by the digest of its weights: 0.1-0.2 s
of every start for ResNet-50's 100 MB, twice per ``reslens classify``. The digest is kept in
the cache folder under the file's path, with what changes whenever the file does (size,
modification and status-change times, inode), as git's index keeps file stats: a file written
again, replaced or touched is hashed again. A damaged memo is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from engine.atomic import atomic_write_text

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read now."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path, memo_dir: Path | None = None) -> str:
    """sha256 hex digest of ``path``'s bytes; from the memo in ``memo_dir`` when the file is
    unchanged since it was hashed (``memo_dir`` None: always hashed)."""
    if memo_dir is None:
        return hash_file(path)
    real = Path(os.path.realpath(path))
    stat = real.stat()
    stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]
    memo = memo_dir / f"{hashlib.sha256(str(real).encode()).hexdigest()[:32]}.json"
    try:
        record = json.loads(memo.read_text(encoding="utf-8"))
        if record["path"] == str(real) and record["stamp"] == stamp:
            return str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hash_file(real)
    try:
        memo_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo, json.dumps({"path": str(real), "stamp": stamp, "sha256": digest}))
    except OSError as exc:  # a read-only cache costs speed, not correctness
        log.debug("could not remember the digest of %s: %s", real, exc)
    return digest
