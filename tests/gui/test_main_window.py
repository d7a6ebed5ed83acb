"""Drive the real main window: drop, classify, inspect, switch CAM class, export, sort."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import Qt

from gui.main_window import MainWindow
from gui.results_model import Role, RowState
from gui.settings import Settings
from tests.gui.conftest import ScriptedPrompts, drop, wait_until_classified


def viewer_has_picture(window: MainWindow) -> bool:
    return window.inspector.viewer.has_image()


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _row_named(window: MainWindow, name: str) -> int:
    model = window.controller.results
    return next(r for r in range(model.rowCount()) if model.path(r).name == name)


def test_dropped_folder_is_classified_with_errors_and_skips_in_place(
    qtbot, window: MainWindow, image_folder: Path
) -> None:
    before = _listing(image_folder)
    drop(window, [image_folder])
    wait_until_classified(qtbot, window, rows=7)
    model = window.controller.results
    counts = model.counts()
    assert counts[RowState.CLASSIFIED] == 5
    assert counts[RowState.FAILED] == 1
    assert counts[RowState.SKIPPED] == 1
    broken = model.index(_row_named(window, "broken.jpg"))
    assert broken.data(Role.STATE) is RowState.FAILED
    assert broken.data(Role.SUMMARY)  # the reason, shown on the tile
    notes = model.index(_row_named(window, "notes.txt"))
    assert "unsupported file type (.txt)" in notes.data(Role.SUMMARY)
    good = model.index(_row_named(window, "img0.jpg"))
    assert good.data(Role.RESULT).prediction.label in ("cat", "dog", "=cmd|' /C calc'!A0")
    assert "5 classified" in window.files_status.text()
    assert _listing(image_folder) == before  # nothing written into the dropped folder


def test_selecting_an_image_shows_topk_and_cam_and_a_class_click_recomputes(
    qtbot, window: MainWindow, image_folder: Path
) -> None:
    drop(window, [image_folder])
    wait_until_classified(qtbot, window, rows=7)
    explainer = window.controller.explainer
    row = _row_named(window, "tall.png")
    with qtbot.waitSignal(explainer.explained, timeout=30_000):
        window._select(row)
    inspector = window.inspector
    assert inspector.viewer.has_image() and inspector.viewer.has_heat()
    assert len(inspector.bars.bars) == 3  # the tiny model has three classes
    first = explainer.current
    assert first is not None and first.path.name == "tall.png"
    assert inspector.bars.bars[0].isChecked()
    # The heat map has the photo's own geometry (200 x 300, not square).
    assert first.explanation.heatmap.shape == (300, 200)
    other = inspector.bars.bars[2]
    with qtbot.waitSignal(explainer.explained, timeout=30_000):
        qtbot.mouseClick(other, Qt.MouseButton.LeftButton)
    assert explainer.current.explanation.class_index == other.class_index
    assert next(b for b in inspector.bars.bars if b.isChecked()).class_index == other.class_index
    assert "Grad-CAM for" in inspector.status.text()


def test_view_mode_opacity_and_keyboard_navigation(
    qtbot, window: MainWindow, image_folder: Path
) -> None:
    drop(window, [image_folder])
    wait_until_classified(qtbot, window, rows=7)
    explainer = window.controller.explainer
    assert window.results_view.currentIndex().row() == 0  # the first file is selected
    assert not viewer_has_picture(window)  # it is broken.jpg: its reason is shown instead
    row = _row_named(window, "img0.jpg")
    with qtbot.waitSignal(explainer.explained, timeout=30_000):
        window._select(row)
    viewer = window.inspector.viewer
    qtbot.mouseClick(window.inspector.mode_buttons["heatmap"], Qt.MouseButton.LeftButton)
    assert viewer.mode == "heatmap" and viewer._heat.isVisible() and viewer._heat.opacity() == 1
    qtbot.mouseClick(window.inspector.mode_buttons["image"], Qt.MouseButton.LeftButton)
    assert not viewer._heat.isVisible()
    qtbot.mouseClick(window.inspector.mode_buttons["overlay"], Qt.MouseButton.LeftButton)
    window.inspector.opacity.setValue(80)
    assert viewer._heat.isVisible() and abs(viewer._heat.opacity() - 0.8) < 1e-6
    fitted = viewer.zoom()
    viewer.zoom_by(2.0)
    assert abs(viewer.zoom() - 2 * fitted) < 1e-6  # "+" really zooms, by the factor asked
    qtbot.mouseClick(_tool_button(window, "Fit"), Qt.MouseButton.LeftButton)
    assert abs(viewer.zoom() - fitted) < 1e-6  # and Fit goes back
    viewer.setFocus()
    with qtbot.waitSignal(explainer.explained, timeout=30_000):
        qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert window.results_view.currentIndex().row() == row + 1
    assert explainer.current.path.name == "img1.jpg"


def _tool_button(window: MainWindow, text: str):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QToolButton

    return next(b for b in window.inspector.findChildren(QToolButton) if b.text() == text)


def test_export_csv_lists_every_file_and_neutralises_formulas(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, image_folder: Path, tmp_path: Path
) -> None:
    drop(window, [image_folder])
    wait_until_classified(qtbot, window, rows=7)
    out = tmp_path / "exports" / "results.csv"
    prompts.results_path = str(out)
    window.commands.export.trigger()
    qtbot.waitUntil(lambda: "Saved 7 rows" in window.messages.text(), timeout=30_000)
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7
    assert {Path(r["path"]).name for r in rows if r["error"]} == {"broken.jpg", "notes.txt"}
    labels = {r["label_1"] for r in rows} | {r["label_2"] for r in rows}
    assert not any(label.startswith("=") for label in labels)


def test_export_failure_is_a_message_and_the_next_export_works(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, image_folder: Path, tmp_path: Path
) -> None:
    drop(window, [image_folder])
    wait_until_classified(qtbot, window, rows=7)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    prompts.results_path = str(blocker / "results.csv")  # its "folder" is a file
    window.commands.export.trigger()
    qtbot.waitUntil(lambda: window.messages.level == "error", timeout=30_000)
    assert window.messages.text()
    prompts.results_path = str(tmp_path / "ok.jsonl")
    window.commands.export.trigger()
    qtbot.waitUntil(lambda: "Saved 7 rows" in window.messages.text(), timeout=30_000)
    assert len((tmp_path / "ok.jsonl").read_text().splitlines()) == 7


def test_sort_copies_confirms_counts_and_copies(
    qtbot, window: MainWindow, image_folder: Path, tmp_path: Path
) -> None:
    before = _listing(image_folder)
    drop(window, [image_folder])
    wait_until_classified(qtbot, window, rows=7)
    window.commands.sort_copies.trigger()
    dialog = window.sort_dialog
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    dialog.destination.setText(str(image_folder / "sorted"))
    assert not ok.isEnabled()  # never inside the folder being classified
    assert "inside" in dialog.summary.text()
    dest = tmp_path / "sorted"
    dialog.destination.setText(str(dest))
    assert ok.isEnabled() and ok.text() == "Copy 5 Files"
    assert "5 files will be copied" in dialog.summary.text()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Copied 5 files" in window.messages.text(), timeout=30_000)
    copies = [p for p in dest.rglob("*") if p.is_file()]
    assert len(copies) == 5
    assert all(p.parent.parent == dest for p in copies)
    assert _listing(image_folder) == before


def test_save_view_writes_a_full_size_png(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, image_folder: Path, tmp_path: Path
) -> None:
    from PIL import Image

    drop(window, [image_folder / "img1.jpg"])
    wait_until_classified(qtbot, window, rows=1)
    qtbot.waitUntil(lambda: window.controller.explainer.current is not None, timeout=30_000)
    prompts.png_path = str(tmp_path / "view.png")
    window.commands.save_view.trigger()
    qtbot.waitUntil(lambda: "Saved the view" in window.messages.text(), timeout=30_000)
    assert Image.open(tmp_path / "view.png").size == (360, 240)


def test_settings_are_remembered(
    qtbot, window: MainWindow, settings: Settings, image_folder: Path
) -> None:
    window.model_bar.top_k.setValue(3)
    drop(window, [image_folder / "img1.jpg"])  # the view controls apply to a shown image
    wait_until_classified(qtbot, window, rows=1)
    qtbot.waitUntil(window.inspector.viewer.has_heat, timeout=30_000)
    qtbot.mouseClick(window.inspector.mode_buttons["overlay"], Qt.MouseButton.LeftButton)
    window.inspector.opacity.setValue(70)
    qtbot.mouseClick(window.inspector.mode_buttons["heatmap"], Qt.MouseButton.LeftButton)
    window.close()
    again = Settings.at(settings.q.fileName())
    assert again.top_k == 3 and again.opacity == 70 and again.view_mode == "heatmap"
    assert again.model.endswith("tiny.reslens")
    assert again.geometry is not None
    second = MainWindow(again)
    assert second.model_bar.top_k.value() == 3
    assert second.inspector.opacity.value() == 70
    assert second.inspector.viewer.mode == "heatmap"
    second.close()
    second.deleteLater()


def test_open_files_and_paste_paths_add_rows(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, image_folder: Path
) -> None:
    from PySide6.QtGui import QGuiApplication

    prompts.files = [str(image_folder / "img0.jpg")]
    window.commands.open_files.trigger()
    wait_until_classified(qtbot, window, rows=1)
    QGuiApplication.clipboard().setText(str(image_folder / "sub"))
    window.commands.paste_paths.trigger()
    wait_until_classified(qtbot, window, rows=2)
    assert window.controller.results.path(1).name == "tall.png"
