"""Help > About > Licences: every third-party distribution ResLens ships, with its licence text.

The packaged app reads its bundled ``THIRD_PARTY_NOTICES.txt``; run from source, the notices
come from the installed packages' metadata (``engine.notices.load_notices``).
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.notices import Notice, bundled_notices_path, load_notices


class LicencesDialog(QDialog):
    """A list of distributions (name, version, licence); the selected one's texts beside it."""

    def __init__(self, parent: QWidget | None = None, notices: list[Notice] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Third-party licences")
        self.resize(900, 600)
        self.notices = load_notices() if notices is None else notices
        packaged = bundled_notices_path().is_file()
        where = bundled_notices_path().name if packaged else "the installed packages' metadata"
        gpl_only = [n.name for n in self.notices if n.gpl_only]
        self.summary = QLabel(
            f"ResLens (BSD-3-Clause) is built on {len(self.notices)} other distributions, "
            f"listed here with their licences (from {where})."
            + (f" GPL-only: {', '.join(gpl_only)}." if gpl_only else "")
        )
        self.summary.setWordWrap(True)
        self.list = QListWidget()
        self.list.addItems([f"{n.name} {n.version} ({n.licence})" for n in self.notices])
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.list.currentRowChanged.connect(self._show)
        splitter = QSplitter()
        splitter.addWidget(self.list)
        splitter.addWidget(self.text)
        splitter.setSizes([300, 600])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        if self.notices:
            self.list.setCurrentRow(0)

    def _show(self, row: int) -> None:
        if not 0 <= row < len(self.notices):
            self.text.clear()
            return
        notice = self.notices[row]
        parts = [f"{notice.name} {notice.version}\nLicence: {notice.licence}"]
        parts += [f"--- {file} ---\n{text}" for file, text in notice.texts]
        if not notice.texts:
            parts.append("(no licence text in the installed metadata)")
        self.text.setPlainText("\n\n".join(parts))

    def select(self, name: str) -> None:
        """Show the distribution called ``name`` (as in the list: "torch", "pyside6-essentials")."""
        names = [n.name for n in self.notices]
        self.list.setCurrentRow(names.index(name))
