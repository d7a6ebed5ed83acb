"""Find image files and decode them to 8-bit RGB.

Two jobs, both free of Qt:

* :func:`walk_images` and :func:`find_images` turn the files and folders a user picked
  into a stable, de-duplicated sequence of image files, reporting what they skip and why.
* :func:`load_image` and :func:`read_pixels` decode one file (JPEG, PNG, BMP, GIF, TIFF,
  WebP or DICOM) into an RGB image with EXIF orientation applied. Every failure a user can
  cause becomes an :class:`~engine.errors.ImageLoadError` naming the file and the reason.

Files are only ever read. Pillow's global settings are left alone: this module checks its
own size limit (:data:`MAX_PIXELS`) and never turns on ``LOAD_TRUNCATED_IMAGES``, so a
truncated file is always an error rather than a half-grey picture.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import ImageLoadError

logger = logging.getLogger(__name__)

MAX_PIXELS: int = 200_000_000
"""Largest image (width x height) this module decodes. Pillow's own bomb check
(``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 MP by default) applies as well."""

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".dcm", ".dicom"}
)
_DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
# Only these Pillow plugins may open a file: no EPS (runs Ghostscript), no exotic formats.
_PILLOW_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")  # JPEG also opens MPO
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})
_HIGH_DEPTH_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_JUNK_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx",
                         "$recycle.bin", "system volume information"})  # fmt: skip
_HEADER_BYTES = 512
_DICOM_MAGIC_AT = slice(128, 132)
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
_OTHER_MAGIC = {b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive",
                b"\x1f\x8b": "a gzip archive", b"8BPS": "a Photoshop file"}  # fmt: skip
# Pillow's plugins report malformed data through many exception types.
_DECODE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
    struct.error, zlib.error,
)  # fmt: skip
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

SkipCallback = Callable[[Path, str], None]


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
            return fh.read(_DICOM_MAGIC_AT.stop)[_DICOM_MAGIC_AT] == b"DICM"
    except OSError:
        return False


def load_image(path: str | Path, *, min_side: int | None = None) -> Image.Image:
    """Decode an image file to an 8-bit RGB Pillow image.

    Args:
        path: a JPEG, PNG, BMP, GIF (first frame), TIFF (first page; 1-bit to 32-bit
            float), WebP or DICOM (first frame) file.
        min_side: the caller only needs the shorter side to be at least this many pixels.
            Large JPEGs then decode at 1/2, 1/4 or 1/8 scale (Pillow's draft mode) and
            other images are box-reduced by an integer factor, always keeping the shorter
            side >= ``min_side``. Smaller images are never enlarged. None: full size.

    Returns:
        A fully loaded image of mode ``"RGB"`` (uint8, 0..255 per channel), independent of
        the file, which is closed. EXIF orientation is applied; transparency is composited
        onto white; 16-bit, 32-bit and float data is stretched from the image's own
        min..max onto 0..255; DICOM gets its rescale, window (VOI) and MONOCHROME1 inversion.

    Raises:
        ImageLoadError: the file is missing, unreadable, empty, not a supported image,
            truncated or corrupt, or larger than :data:`MAX_PIXELS`.
        ValueError: ``min_side`` is not a positive int or None.
    """
    path = Path(path)
    if min_side is not None and (
        isinstance(min_side, bool) or not isinstance(min_side, int) or min_side < 1
    ):
        raise ValueError(f"min_side must be a positive int or None, got {min_side!r}")
    with _open_regular_file(path) as fh:
        header = fh.read(_HEADER_BYTES)
        fh.seek(0)
        if path.suffix.lower() in _DICOM_SUFFIXES or header[_DICOM_MAGIC_AT] == b"DICM":
            from engine.dicom import decode_dicom

            image = decode_dicom(fh, path, header)
        else:
            image = _decode_pillow(fh, path, header, min_side)
    if min_side is not None and (factor := min(image.size) // min_side) >= 2:
        image = image.reduce(factor)
    return image


def read_pixels(path: str | Path, *, min_side: int | None = None) -> np.ndarray:
    """Decode like :func:`load_image` and return a writable uint8 array of shape (H, W, 3)."""
    return np.array(load_image(path, min_side=min_side), dtype=np.uint8)


def walk_images(
    paths: Iterable[str | Path], *, on_skip: SkipCallback | None = None
) -> Iterator[Path]:
    """Yield the supported image files in and under ``paths``, each once.

    Given paths are visited in the given order; folders recursively, each folder's entries
    sorted by name case-insensitively, then by name. Yielded paths are built from the given
    ones, not resolved. A file reached twice (de-duplicated by resolved path) or a real
    folder reached twice (so symlink loops end) is passed over. So are hidden entries inside
    folders (leading ``.``, covering ``.DS_Store`` and ``._*``; the Windows hidden flag) and
    OS junk (``Thumbs.db``, ``desktop.ini``, ``__MACOSX``). Pipes, sockets and devices are
    never opened. ``on_skip(path, reason)`` hears of everything else left out: unsupported
    files ("unsupported file type (.txt)"), missing paths ("not found"), broken links,
    unreadable folders. Without it, skips are logged at DEBUG level.

    Raises:
        TypeError: ``paths`` is a single str or Path rather than an iterable of them.
    """
    if isinstance(paths, (str, Path)):
        raise TypeError("walk_images() takes an iterable of paths; wrap a single path in a list")
    walker = _Walker(on_skip or _log_skip)
    for raw in paths:
        yield from walker.visit(Path(raw))


def find_images(
    paths: Iterable[str | Path],
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Collect :func:`walk_images` into ``(images, skipped)``, skipped as (path, reason)."""
    skipped: list[tuple[Path, str]] = []
    images = list(walk_images(paths, on_skip=lambda path, reason: skipped.append((path, reason))))
    return images, skipped


# --- opening and sniffing -------------------------------------------------------------


def _open_regular_file(path: Path) -> IO[bytes]:
    """Open ``path`` for reading after checking it is a non-empty regular file."""
    try:
        mode, size = (st := path.stat()).st_mode, st.st_size
    except OSError as exc:
        raise ImageLoadError(path, _os_reason(exc)) from exc
    if stat.S_ISDIR(mode):
        raise ImageLoadError(path, "is a folder, not an image file")
    if not stat.S_ISREG(mode):
        raise ImageLoadError(path, "not a regular file (a pipe, socket or device)")
    if size == 0:
        raise ImageLoadError(path, "file is empty")
    try:
        return path.open("rb")
    except OSError as exc:
        raise ImageLoadError(path, _os_reason(exc)) from exc


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (cannot read it)"
    if isinstance(exc, FileNotFoundError):
        return "not found"
    return f"cannot read it ({exc.strerror or exc})"


def _describe_unknown(header: bytes) -> str:
    """Say why Pillow could not identify a file, from its first bytes."""
    if header.startswith(_IMAGE_MAGIC) or (header[:4] == b"RIFF" and header[8:12] == b"WEBP"):
        return "image is truncated or corrupt"
    for magic, kind in _OTHER_MAGIC.items():
        if header.startswith(magic):
            return f"not a supported image (looks like {kind})"
    if header[4:8] == b"ftyp":
        return "not a supported image (HEIC, AVIF or video); convert it to JPEG or PNG"
    control = sum(1 for byte in header if byte < 32 and byte not in b"\t\n\f\r")
    if b"\x00" not in header and control <= len(header) // 100:
        return "not a supported image (looks like text)"
    return "not a supported image (unknown format)"


def _pixel_limit() -> int:
    """The effective size limit: ours, or Pillow's bomb error threshold if lower."""
    pillow = Image.MAX_IMAGE_PIXELS
    return MAX_PIXELS if pillow is None else min(MAX_PIXELS, 2 * pillow)


def _too_large(pixels: int | None) -> str:
    def mp(count: int) -> str:
        return f"{count / 1e6:.1f}" if count < 10_000_000 else f"{count / 1e6:.0f}"

    size = "" if pixels is None else f"{mp(pixels)} megapixels; "
    return f"image is too large ({size}limit {mp(_pixel_limit())} megapixels)"


# --- Pillow formats ---------------------------------------------------------------------


def _decode_pillow(fh: IO[bytes], path: Path, header: bytes, min_side: int | None) -> Image.Image:
    # Pillow's DecompressionBombWarning (above ~89 MP) is left to the warnings module:
    # silencing it with catch_warnings() would race between decoding threads.
    try:
        image = Image.open(fh, formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:
        found = _BOMB_PIXELS.search(str(exc))
        raise ImageLoadError(path, _too_large(int(found[1]) if found else None)) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(path, _describe_unknown(header)) from exc
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(path, "image is truncated or corrupt") from exc
    width, height = image.size
    if width * height > _pixel_limit():
        raise ImageLoadError(path, _too_large(width * height))
    if min_side is not None and image.format in _JPEG_FORMATS:
        # Picks the largest 1/2^k scale that keeps both sides >= min_side.
        image.draft(None, (min_side, min_side))
    try:
        image.load()
    except MemoryError as exc:
        raise ImageLoadError(path, f"not enough memory to decode {width}x{height}") from exc
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(path, "image is truncated or corrupt") from exc
    oriented = _apply_exif_orientation(image, path)
    try:
        rgb = _to_rgb(oriented)
    except ValueError as exc:
        raise ImageLoadError(path, f"unsupported colour mode {oriented.mode!r}") from exc
    # A copy never shares its file pointer with the (soon closed) file.
    return rgb.copy() if rgb is image else rgb


def _apply_exif_orientation(image: Image.Image, path: Path) -> Image.Image:
    try:
        turned = ImageOps.exif_transpose(image)
    except _DECODE_ERRORS as exc:
        logger.warning("%s: ignoring unreadable EXIF orientation (%s)", path, exc)
        return image
    return image if turned is None else turned


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> ``"RGB"``; alpha composited onto white; deep data stretched."""
    if image.mode in _HIGH_DEPTH_MODES:
        grey = _scale_to_uint8(np.asarray(image))
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Stretch a numeric array of any shape from its finite min..max onto uint8 0..255.

    NaN and infinities become 0; a constant (or all non-finite) array becomes all 0.
    """
    data = values.astype(np.float32, copy=False)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(data.shape, dtype=np.uint8)
    low, high = float(data[finite].min()), float(data[finite].max())
    if high <= low:
        return np.zeros(data.shape, dtype=np.uint8)
    scaled = (data - low) * np.float32(255.0 / (high - low))
    scaled[~finite] = 0.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


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

    def __init__(self, on_skip: SkipCallback) -> None:
        self._on_skip = on_skip
        self._seen_files: set[str] = set()
        self._seen_dirs: set[str] = set()

    def visit(self, path: Path) -> Iterator[Path]:
        """Yield the images at or under one given path."""
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            self._on_skip(path, "broken link" if path.is_symlink() else "not found")
            return
        except OSError as exc:
            self._on_skip(path, _os_reason(exc))
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
            return
        self._seen_files.add(key)
        if not stat.S_ISREG(mode):
            self._on_skip(path, "not a regular file (a pipe, socket or device)")
        elif is_supported(path):
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
                self._on_skip(path, "broken link" if broken else _os_reason(exc))
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
            self._on_skip(folder, f"cannot open folder: {_os_reason(exc)}")
            return iter(())
        entries.sort(key=lambda entry: (entry.name.casefold(), entry.name))
        return iter(entries)
