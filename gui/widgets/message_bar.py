"""A one-line message above the results: what just happened, or what went wrong.

Messages never block the window (no modal boxes for errors): the newest replaces the last;
information fades after a while, warnings and errors stay until closed.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

STYLES = {
    "info": "background: #e3f2fd; color: #0d47a1; border: 1px solid #90caf9;",
    "warning": "background: #fff8e1; color: #5d4037; border: 1px solid #ffcc80;",
    "error": "background: #ffebee; color: #b71c1c; border: 1px solid #ef9a9a;",
}
INFO_SECONDS = 8


class MessageBar(QFrame):
    shown = Signal(str, str)  # level, text: every message, even one that fades quickly

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = ""
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Close this message")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, stretch=1)
        layout.addWidget(close, alignment=Qt.AlignmentFlag.AlignTop)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        # Hidden, it keeps its place: the results below never jump when a message comes or goes.
        self.setStyleSheet("MessageBar { border: 1px solid transparent; border-radius: 4px; }")
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
        self.setVisible(False)

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

    def show_message(self, level: str, text: str) -> None:
        self.level = level
        self.setStyleSheet(
            f"MessageBar {{ {STYLES.get(level, STYLES['info'])} border-radius: 4px; }}"
        )
        self.label.setText(text)
        self.setVisible(True)
        self.shown.emit(level, text)
        if level == "info":
            self._timer.start(INFO_SECONDS * 1000)
        else:
            self._timer.stop()

    def dismiss(self) -> None:
        self._timer.stop()
        self.setVisible(False)
