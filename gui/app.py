"""``reslens-gui``: start the desktop app.

The window appears before anything heavy is imported: torch (4-6 s to import here) is
imported on a worker thread when the model loads, after the window is on screen.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence

_STARTED = time.perf_counter()


def main(argv: Sequence[str] | None = None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from engine.resources import assets_dir
    from gui.options import parse_args
    from gui.settings import APPLICATION, ORGANIZATION, Settings

    options = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("ResLens")
    icon = QIcon()
    for size in (16, 32, 48, 64, 128, 256):
        icon.addFile(str(assets_dir() / "icons" / f"reslens-{size}.png"))
    app.setWindowIcon(icon)

    from gui.main_window import MainWindow

    window = MainWindow(Settings(), options=options)
    window.show()
    if options.print_startup:
        QTimer.singleShot(0, lambda: _print_startup())
    QTimer.singleShot(0, window.start)
    if options.quit_after_s is not None:
        QTimer.singleShot(round(options.quit_after_s * 1000), window.close)
    return int(app.exec())


def _print_startup() -> None:
    if sys.stdout is not None:  # a windowed app on Windows has no console
        print(f"window shown after {time.perf_counter() - _STARTED:.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
