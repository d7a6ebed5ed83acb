"""The engine must stay usable without Qt (CLI, notebooks, the packaged app's workers)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_engine_does_not_import_qt() -> None:
    code = (
        "import sys, engine, engine.cli, engine.inference.batch, engine.inference.loader, engine.runtime.classifier;"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'gui'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
