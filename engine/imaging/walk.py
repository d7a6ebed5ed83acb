"""Turn the files and folders a user picked into a stable, de-duplicated list of image files.

:func:`walk_images` reports what it skips and why; nothing here decodes pixels, and files
are only ever opened to read a DICOM header.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from engine.imaging.pixels import DICOM_MAGIC_AT

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".dcm", ".dicom"}
)
DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
_JUNK_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx",
                         "$recycle.bin", "system volume information"})  # fmt: skip

SkipCallback = Callable[[Path, str], None]
DuplicateCallback = Callable[[Path, Path], Path]
"""(path the file is listed as, another path to it) -> the path that lists it from now on."""
SAME_FILE_AS = "same file as"


def is_supported(path: Path) -> bool:
    """Whether ``path`` looks like a file :func:`load_image` can decode.

    Judged by suffix (case-insensitive, see :data:`SUPPORTED_SUFFIXES`). A file with no
    suffix, or a purely numeric one as in DICOM files named by UID (``1.2.840.5``), counts
    when it is a regular file with the DICOM magic ``DICM`` at byte 128. Only regular files
    are ever opened; a missing or unreadable file counts as unsupported.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return True
    if suffix and not suffix[1:].isdigit():
        return False
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as fh:
            return fh.read(DICOM_MAGIC_AT.stop)[DICOM_MAGIC_AT] == b"DICM"
    except OSError:
        return False


def walk_images(
    paths: Iterable[str | Path], *, on_skip: SkipCallback | None = None
) -> Iterator[Path]:
    """Yield the supported image files in and under ``paths``, each once.

    Given paths are visited in the given order; folders recursively, each folder's entries
    sorted by name case-insensitively, then by name. Yielded paths are built from the given
    ones, not resolved. A file reached again by another path (de-duplicated by resolved path)
    is skipped as "same file as …" (the same path named twice, silently); a real folder
    reached twice (so symlink loops end) is passed over. So are hidden entries inside
    folders (leading ``.``, covering ``.DS_Store`` and ``._*``; the Windows hidden flag) and
    OS junk (``Thumbs.db``, ``desktop.ini``, ``__MACOSX``). Pipes, sockets and devices are
    never opened. ``on_skip(path, reason)`` hears of everything else left out: unsupported
    files ("unsupported file type (.txt)"), missing paths ("not found"), broken links,
    unreadable folders. Without it, skips are logged at DEBUG level.

    Raises:
        TypeError: ``paths`` is a single str or Path rather than an iterable of them.
    """
    report = on_skip or _log_skip

    def on_duplicate(kept: Path, other: Path) -> Path:
        report(other, f"{SAME_FILE_AS} {kept}")
        return kept

    walker = _Walker(report, on_duplicate)
    for raw in _paths(paths):
        yield from walker.visit(Path(raw))


def find_images(
    paths: Iterable[str | Path],
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Collect :func:`walk_images` into ``(images, skipped)``, skipped as (path, reason).

    Two paths that reach the same file (a link and its target): the file is listed once, under
    its real path when that is among them, and the other path is skipped as "same file as …".
    """
    skipped: list[tuple[Path, str]] = []
    images: list[Path] = []
    where: dict[Path, int] = {}  # yielded path -> its index in images

    def on_duplicate(kept: Path, other: Path) -> Path:
        if _is_real(other) and not _is_real(kept):
            images[where[kept]] = other
            where[other] = where.pop(kept)
            kept, other = other, kept
        skipped.append((other, f"{SAME_FILE_AS} {kept}"))
        return kept

    walker = _Walker(lambda path, reason: skipped.append((path, reason)), on_duplicate)
    for raw in _paths(paths):
        for path in walker.visit(Path(raw)):
            where[path] = len(images)
            images.append(path)
    return images, skipped


def _paths(paths: Iterable[str | Path]) -> Iterable[str | Path]:
    if isinstance(paths, (str, Path)):
        raise TypeError("walk_images() takes an iterable of paths; wrap a single path in a list")
    return paths


def _is_real(path: Path) -> bool:
    """Whether ``path`` names a file itself rather than through a link (of it or a folder)."""
    return os.path.normcase(os.path.abspath(path)) == os.path.normcase(os.path.realpath(path))


def os_reason(exc: OSError) -> str:
    """Why an OS call on a user's file failed, in words."""
    if isinstance(exc, PermissionError):
        return "permission denied (cannot read it)"
    if isinstance(exc, FileNotFoundError):
        return "not found"
    return f"cannot read it ({exc.strerror or exc})"


# --- walking ----------------------------------------------------------------------------


def _log_skip(path: Path, reason: str) -> None:
    logger.debug("skipping %s: %s", path, reason)


def _unsupported_reason(path: Path) -> str:
    suffix = path.suffix.lower()
    return f"unsupported file type ({suffix})" if suffix else "unsupported file (no extension)"


def _is_junk(entry: os.DirEntry[str], st: os.stat_result) -> bool:
    hidden = getattr(st, "st_file_attributes", 0) & stat.FILE_ATTRIBUTE_HIDDEN
    return bool(hidden) or entry.name.casefold() in _JUNK_NAMES


class _Walker:
    """The state of one :func:`walk_images` call: what has been seen, whom to tell."""

    def __init__(self, on_skip: SkipCallback, on_duplicate: DuplicateCallback) -> None:
        self._on_skip = on_skip
        self._on_duplicate = on_duplicate
        self._seen_files: dict[str, Path | None] = {}  # real path key -> the path listing it
        self._seen_dirs: set[str] = set()

    def visit(self, path: Path) -> Iterator[Path]:
        """Yield the images at or under one given path."""
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            self._on_skip(path, "broken link" if path.is_symlink() else "not found")
            return
        except OSError as exc:
            self._on_skip(path, os_reason(exc))
            return
        if stat.S_ISDIR(mode):
            yield from self._walk(path)
        elif path.name.startswith("._"):
            self._on_skip(path, "macOS metadata file, not an image")
        else:
            yield from self._file(path, mode, os.path.realpath(path))

    def _file(self, path: Path, mode: int, real: str) -> Iterator[Path]:
        key = os.path.normcase(real)
        if key in self._seen_files:
            first = self._seen_files[key]
            if first is not None and first != path:
                self._seen_files[key] = self._on_duplicate(first, path)
            return
        self._seen_files[key] = None  # seen, not listed (unless it is an image, below)
        if not stat.S_ISREG(mode):
            self._on_skip(path, "not a regular file (a pipe, socket or device)")
        elif is_supported(path):
            self._seen_files[key] = path
            yield path
        else:
            self._on_skip(path, _unsupported_reason(path))

    def _walk(self, root: Path) -> Iterator[Path]:
        """Depth-first over ``root`` without recursion, so deep trees cannot overflow."""
        real_root = os.path.realpath(root)
        if not self._enter(real_root):
            return
        stack = [(self._list(root), real_root)]
        while stack:
            entries, real_dir = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                st = entry.stat()
            except OSError as exc:
                broken = isinstance(exc, FileNotFoundError) and entry.is_symlink()
                self._on_skip(path, "broken link" if broken else os_reason(exc))
                continue
            if _is_junk(entry, st):
                continue
            is_link = entry.is_symlink()
            real = os.path.realpath(path) if is_link else os.path.join(real_dir, entry.name)
            if not stat.S_ISDIR(st.st_mode):
                yield from self._file(path, st.st_mode, real)
            elif self._enter(real):
                stack.append((self._list(path), real))

    def _enter(self, real_dir: str) -> bool:
        """Mark a real folder as walked; False when it already was (a loop or repeat)."""
        key = os.path.normcase(real_dir)
        if key in self._seen_dirs:
            return False
        self._seen_dirs.add(key)
        return True

    def _list(self, folder: Path) -> Iterator[os.DirEntry[str]]:
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            self._on_skip(folder, f"cannot open folder: {os_reason(exc)}")
            return iter(())
        entries.sort(key=lambda entry: (entry.name.casefold(), entry.name))
        return iter(entries)
