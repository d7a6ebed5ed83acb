"""Files and folders arriving by drag and drop or the clipboard, as paths."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl


def paths_from_mime(mime: QMimeData | None) -> list[Path]:
    """Local files and folders in ``mime``: file URLs, or text with one path per line."""
    if mime is None:
        return []
    if mime.hasUrls():
        return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    if mime.hasText():
        return paths_from_text(mime.text())
    return []


def paths_from_text(text: str) -> list[Path]:
    """Pasted text: one path or file:// URL per line; lines naming nothing existing are left out."""
    paths: list[Path] = []
    for line in text.splitlines():
        line = line.strip().strip('"').strip("'")
        if not line:
            continue
        if line.startswith("file://"):
            line = QUrl(line).toLocalFile()
        path = Path(line).expanduser()
        if path.exists():
            paths.append(path)
    return paths
