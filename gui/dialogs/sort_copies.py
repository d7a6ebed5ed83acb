"""File > Sort Copies into Folders…: where copies go, and a summary of how many go where.

The plan (:func:`engine.inference.sorting.plan_sort`) is recomputed as the user edits; the OK button
says how many files it will copy. The originals are never moved or changed, and the
destination may not lie inside a folder being classified (the app never writes there).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.inference.batch import FileResult
from engine.inference.sorting import UNCERTAIN, SortPlan, plan_sort, source_containing

MAX_LISTED = 12


class SortCopiesDialog(QDialog):
    def __init__(
        self,
        results: Sequence[FileResult],
        sources: Sequence[Path],
        destination: str,
        choose_folder: Callable[[str], str | None],
        parent: QWidget | None = None,
        *,
        waiting: int = 0,
    ) -> None:
        super().__init__(parent)
        self.waiting = waiting
        self.setWindowTitle("Sort Copies into Folders")
        self.setMinimumWidth(520)
        self._results = list(results)
        self._sources = [s.resolve() for s in sources]
        self._choose_folder = choose_folder
        self.destination = QLineEdit(destination)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.uncertain = QCheckBox(f"Put images below this confidence into “{UNCERTAIN}”:")
        self.threshold = QSpinBox()
        self.threshold.setRange(1, 99)
        self.threshold.setValue(60)
        self.threshold.setSuffix(" %")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.destination, stretch=1)
        row.addWidget(browse)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.uncertain)
        threshold_row.addWidget(self.threshold)
        threshold_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("Copy each classified image into a folder named after its class, under:")
        )
        layout.addLayout(row)
        layout.addLayout(threshold_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        for signal in (
            self.destination.textChanged,
            self.uncertain.toggled,
            self.threshold.valueChanged,
        ):
            signal.connect(self._update)
        self._update()

    def plan(self) -> SortPlan | None:
        """The copies to make, or None while the choice is not usable."""
        text = self.destination.text().strip()
        if not text or self._inside_sources(Path(text)) is not None:
            return None
        threshold = self.threshold.value() / 100 if self.uncertain.isChecked() else None
        plan = plan_sort(self._results, Path(text).expanduser(), min_confidence=threshold)
        return plan if plan.copies else None

    def _inside_sources(self, destination: Path) -> Path | None:
        return source_containing(destination, self._sources)

    def _browse(self) -> None:
        folder = self._choose_folder(self.destination.text())
        if folder:
            self.destination.setText(folder)

    def _update(self) -> None:
        self.threshold.setEnabled(self.uncertain.isChecked())
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        text = self.destination.text().strip()
        plan = self.plan()
        inside = self._inside_sources(Path(text)) if text else None
        if not text:
            self.summary.setText("Choose a destination folder.")
        elif inside is not None:
            self.summary.setText(
                f"<span style='color:#b71c1c'>That folder is inside {html.escape(str(inside))}, which holds the "
                "images being sorted. Choose a folder outside it.</span>"
            )
        elif plan is None:
            self.summary.setText("No classified images to copy yet.")
        else:
            self.summary.setText(_describe(plan, self.waiting))
        ok.setEnabled(plan is not None)
        ok.setText(f"Copy {len(plan.copies):,} Files" if plan is not None else "Copy")


def _describe(plan: SortPlan, waiting: int = 0) -> str:
    counts = list(plan.counts.items())
    lines = [f"{n:,} → {html.escape(folder)}/" for folder, n in counts[:MAX_LISTED]]
    if len(counts) > MAX_LISTED:
        rest = sum(n for _, n in counts[MAX_LISTED:])
        lines.append(f"{rest:,} → {len(counts) - MAX_LISTED} more folders")
    text = (
        f"{len(plan.copies):,} files will be copied into {html.escape(str(plan.destination))}:<br>"
        + "<br>".join(lines)
    )
    if plan.skipped_errors:
        text += f"<br>{plan.skipped_errors} files that could not be classified stay out."
    if waiting:
        text += f"<br><b>{waiting:,} images are not classified yet and will not be copied.</b>"
    return text + "<br><i>Your original files are not moved or changed.</i>"
