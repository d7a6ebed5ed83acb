"""The shape rules of docs/ARCHITECTURE.md, checked on the source: small modules, small
functions, no private names borrowed across modules, no Qt-free module under gui/.

Import direction is checked by import-linter (`make test` runs `lint-imports`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
SOURCES = sorted([*ROOT.joinpath("engine").rglob("*.py"), *ROOT.joinpath("gui").rglob("*.py")])


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_modules_stay_small() -> None:
    big = [
        f"{_name(p)}: {n} lines"
        for p in SOURCES
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not big, f"split these modules (limit {MAX_MODULE_LINES} lines): {big}"


def test_functions_stay_small() -> None:
    big = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    big.append(f"{_name(path)}:{node.lineno} {node.name}: {length} lines")
    assert not big, f"split these functions (limit {MAX_FUNCTION_LINES} lines): {big}"


def test_no_private_names_imported_across_modules() -> None:
    borrowed = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0]
                in (
                    "engine",
                    "gui",
                )
            ):
                borrowed += [
                    f"{_name(path)}:{node.lineno} {alias.name} from {node.module}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert not borrowed, f"make these public or move them down: {borrowed}"


@pytest.mark.parametrize("path", sorted(ROOT.joinpath("gui").rglob("*.py")), ids=_name)
def test_gui_modules_that_use_the_engine_use_qt(path: Path) -> None:
    """Code that uses the engine without Qt is engine code: it belongs under engine/."""
    imported = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
    if "engine" in imported:
        assert imported & {"PySide6", "shiboken6"} or _only_gui_wiring(path), (
            f"{_name(path)} uses the engine without Qt: move it under engine/"
        )


def _only_gui_wiring(path: Path) -> bool:
    """Package markers and the module entry point are wiring, not engine work."""
    return path.name in ("__init__.py", "__main__.py")
