"""Model > About This Model: what the network in use is, fed by
:func:`engine.models.info.model_facts` (the same facts ``reslens info`` prints)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EngineError
from engine.models.info import ModelFacts, deployment_lines, model_facts

STAGE_COLUMNS = ("Stage", "Block", "Blocks", "Width", "Channels out", "Size")


def load_facts(spec: str | Path) -> ModelFacts | str:
    """The facts, or the one-line reason they cannot be had (shown in the dialog)."""
    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        return model_facts(spec)  # about a second: builds the network and counts its FLOPs
    except EngineError as exc:
        return str(exc)
    finally:
        QGuiApplication.restoreOverrideCursor()


class ModelInfoDialog(QDialog):
    """Summary rows, the stage table, then provenance, metrics and the deployment table."""

    def __init__(self, spec: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About This Model")
        self.resize(760, 620)
        layout = QVBoxLayout(self)
        facts = load_facts(spec)
        self.facts = facts if isinstance(facts, ModelFacts) else None
        if isinstance(facts, str):
            layout.addWidget(QLabel(facts))
        else:
            self._fill(layout, facts)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _fill(self, layout: QVBoxLayout, facts: ModelFacts) -> None:
        layout.addWidget(QLabel(f"<h3>{facts.title}</h3>"))
        form = QFormLayout()
        for name, value in facts.summary():
            label = QLabel(value)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{name.capitalize()}:", label)
        layout.addLayout(form)
        self.stages = QTableWidget(len(facts.anatomy.stages), len(STAGE_COLUMNS))
        self.stages.setHorizontalHeaderLabels(STAGE_COLUMNS)
        self.stages.verticalHeader().setVisible(False)
        for row, s in enumerate(facts.anatomy.stages):
            cells = (s.name, s.block, s.blocks, s.width, s.out_channels, f"{s.out_size}²")
            for column, cell in enumerate(cells):
                self.stages.setItem(row, column, QTableWidgetItem(str(cell)))
        self.stages.resizeColumnsToContents()
        layout.addWidget(self.stages)
        self.details = QPlainTextEdit("\n".join(self._details(facts)))
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.details)

    @staticmethod
    def _details(facts: ModelFacts) -> list[str]:
        lines: list[str] = []
        for heading, rows in (("Provenance", facts.provenance), ("Metrics", facts.metrics)):
            if rows:
                lines += [heading, *(f"  {k:<10} {v}" for k, v in rows), ""]
        if facts.deployment:
            lines += ["Deployment", *deployment_lines(facts.deployment)]
        return lines or ["No training records: a stock architecture."]
