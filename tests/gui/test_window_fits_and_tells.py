"""Issue 13, Classify side: the window fits a small screen, and nothing happens silently.

Each test names the problem it guards against; on the code before the fix it fails for that
reason (an oversized window, the previous photo's bars, an export quiet about waiting images).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication

from gui.main_window import MainWindow
from gui.results_model import RowState
from gui.settings import Settings
from gui.window_fit import fit_rect
from tests.conftest import photo
from tests.gui.conftest import ScriptedPrompts, drop, photo_folder, wait_until_classified

LAPTOP = QRect(0, 0, 1366, 768)
MANY = 150


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return photo_folder(tmp_path_factory.mktemp("many"), MANY, distinct=30)


def _inside(rect: QRect, area: QRect) -> bool:
    return area.contains(rect.topLeft()) and area.contains(rect.bottomRight())


def _when_first_results_arrive(window: MainWindow, action) -> None:  # type: ignore[no-untyped-def]
    def on_activity(activity: object) -> None:
        progress = getattr(activity, "progress", None)
        if progress is not None and progress.done > 0:
            window.controller.activity_changed.disconnect(on_activity)
            action()

    window.controller.activity_changed.connect(on_activity)


# --- 1. the window outgrows the screen ------------------------------------------------------


def test_fit_rect_shrinks_and_moves_a_window_onto_a_laptop_screen() -> None:
    assert fit_rect(QRect(0, 0, 1280, 852), LAPTOP) == QRect(0, 0, 1280, 768)
    assert fit_rect(QRect(300, 200, 1440, 1085), LAPTOP) == LAPTOP
    assert fit_rect(QRect(900, 500, 800, 600), LAPTOP) == QRect(566, 168, 800, 600)


def test_window_fits_the_screen_at_launch_when_restored_and_with_twenty_classes(
    qtbot, window: MainWindow, settings: Settings, image_folder: Path
) -> None:
    area = QGuiApplication.primaryScreen().availableGeometry()  # 800 x 800 offscreen
    assert _inside(window.frameGeometry(), area)
    launched = window.size()
    drop(window, [image_folder / "img0.jpg"])
    wait_until_classified(qtbot, window, rows=1)
    window.model_bar.top_k.setValue(20)  # the tiny model has 3 classes; bars scroll anyway
    qtbot.waitUntil(lambda: window.controller.explainer.current is not None, timeout=30_000)
    window.messages.show_message("error", "a long message " * 30)
    window.tabs.setCurrentIndex(1)  # the Train tab, built now
    qtbot.waitUntil(lambda: window.training_tab is not None, timeout=10_000)
    window.training_tab.options.toggle.setChecked(True)  # advanced settings unfolded
    for page in range(4):
        window.training_tab.pages.stack.setCurrentIndex(page)
        QGuiApplication.processEvents()
        assert window.size() == launched, f"Train page {page} grew the window"
    assert window.minimumSizeHint().height() <= LAPTOP.height() - 40
    assert window.minimumSizeHint().width() <= LAPTOP.width()
    # A window saved oversized (another screen, or grown by an old version) comes back fitted.
    window.resize(1440, 1085)
    window.close()
    again = MainWindow(Settings.at(settings.q.fileName()))
    again.show()
    assert _inside(again.frameGeometry(), area)
    again.close()
    again.deleteLater()


def test_ctrl_1_and_ctrl_2_switch_tabs_and_ctrl_2_lands_in_the_folder_field(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    from tests.engine.labeled_folders import make_labeled_folder

    data = make_labeled_folder(tmp_path / "labeled", per_class=5, size=24)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 1
    tab = window.training_tab
    assert tab is not None and tab.folder_edit.hasFocus()
    tab.folder_edit.clear()
    qtbot.keyClicks(tab.folder_edit, str(data))
    qtbot.keyClick(tab.folder_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: tab.pages.data.classes.rowCount() == 3, timeout=30_000)
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 0


# --- 5. export and sort are silent about waiting images -------------------------------------


def test_export_during_a_batch_says_how_many_images_are_not_in_the_file(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, many_photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "early.csv"
    prompts.results_path = str(out)
    prompts.wait_answer = "now"
    _when_first_results_arrive(window, window.commands.export.trigger)
    drop(window, [many_photos])
    qtbot.waitUntil(lambda: "Saved" in window.messages.text(), timeout=60_000)
    asked = [q for q in prompts.asked if q.startswith("ask_wait")]
    assert asked and "not classified yet" in asked[0]
    with out.open(newline="", encoding="utf-8") as handle:
        written = len(list(csv.DictReader(handle)))
    assert written < MANY
    assert f"{MANY - written} images are not classified yet" in window.messages.text()
    wait_until_classified(qtbot, window, rows=MANY)


def test_export_can_wait_until_every_image_is_classified(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, many_photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "all.jsonl"
    prompts.results_path = str(out)
    prompts.wait_answer = "wait"
    _when_first_results_arrive(window, window.commands.export.trigger)
    drop(window, [many_photos])
    qtbot.waitUntil(lambda: out.is_file(), timeout=120_000)
    assert len(out.read_text().splitlines()) == MANY
    qtbot.waitUntil(lambda: f"Saved {MANY} rows" in window.messages.text(), timeout=10_000)


def test_sort_dialog_says_how_many_images_are_not_classified_yet(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, many_photos: Path, tmp_path: Path
) -> None:
    prompts.wait_answer = "now"
    _when_first_results_arrive(window, window.commands.sort_copies.trigger)
    drop(window, [many_photos])
    qtbot.waitUntil(lambda: window.sort_dialog is not None, timeout=60_000)
    dialog = window.sort_dialog
    dialog.destination.setText(str(tmp_path / "sorted"))
    assert "not classified yet and will not be copied" in dialog.summary.text()
    dialog.reject()
    window.controller.cancel()


# --- 6. stale bars -------------------------------------------------------------------------


def test_selecting_another_tile_never_shows_the_previous_photos_bars(
    qtbot, window: MainWindow, image_folder: Path
) -> None:
    drop(window, [image_folder])
    wait_until_classified(qtbot, window, rows=7)
    model, explainer, bars = (
        window.controller.results,
        window.controller.explainer,
        window.inspector.bars,
    )
    rows = {model.path(r).name: r for r in range(model.rowCount())}
    with qtbot.waitSignal(explainer.explained, timeout=30_000):
        window._select(rows["img0.jpg"])
    first = [b.prob for b in bars.bars]
    window._select(rows["img3.jpg"])  # before its Grad-CAM is back
    expected = model.result(rows["img3.jpg"]).prediction
    shown = [round(b.prob, 6) for b in bars.bars]
    assert shown == [round(p, 6) for p in expected.probs]
    assert shown != [round(p, 6) for p in first]


# --- 7. the smaller ones -------------------------------------------------------------------


def test_controls_without_an_image_and_in_image_mode_are_off(
    qtbot, window: MainWindow, image_folder: Path
) -> None:
    inspector = window.inspector
    assert not window.commands.save_view.isEnabled() and not inspector.save_button.isEnabled()
    assert not inspector.zoom_buttons[0].isEnabled()
    assert not inspector.mode_buttons["heatmap"].isEnabled()
    drop(window, [image_folder / "img1.jpg"])
    wait_until_classified(qtbot, window, rows=1)
    qtbot.waitUntil(lambda: window.controller.explainer.current is not None, timeout=30_000)
    assert window.commands.save_view.isEnabled() and inspector.zoom_buttons[0].isEnabled()
    assert inspector.legend.isVisible()  # the colour scale of the heat map
    qtbot.mouseClick(inspector.mode_buttons["image"], Qt.MouseButton.LeftButton)
    assert not inspector.opacity.isEnabled() and not inspector.legend.isVisible()
    qtbot.mouseClick(inspector.mode_buttons["overlay"], Qt.MouseButton.LeftButton)
    assert inspector.opacity.isEnabled()


def test_a_message_coming_and_going_never_moves_the_results(qtbot, window: MainWindow) -> None:
    before = window.results_view.mapTo(window, window.results_view.rect().topLeft())
    window.messages.show_message("info", "Added 3 images.")
    QGuiApplication.processEvents()
    during = window.results_view.mapTo(window, window.results_view.rect().topLeft())
    window.messages.dismiss()
    QGuiApplication.processEvents()
    after = window.results_view.mapTo(window, window.results_view.rect().topLeft())
    assert before == during == after


def test_dragging_files_over_the_window_highlights_the_drop_area(
    qtbot, window: MainWindow, image_folder: Path
) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image_folder))])
    enter = QDragEnterEvent(
        QPointF(50, 50).toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(window, enter)
    assert window.results_view.drop_highlight
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not window.results_view.drop_highlight


def test_clear_list_asks_first_and_cancel_mentions_f5(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, many_photos: Path
) -> None:
    _when_first_results_arrive(window, window.controller.cancel)
    drop(window, [many_photos])
    qtbot.waitUntil(lambda: "Cancelled" in window.messages.text(), timeout=60_000)
    assert "F5" in window.messages.text()
    prompts.clear_answer = False
    window.commands.clear.trigger()
    assert window.controller.results.rowCount() == MANY  # kept
    assert f"confirm_clear: {MANY}" in prompts.asked
    prompts.clear_answer = True
    window.commands.clear.trigger()
    assert window.controller.results.rowCount() == 0


def test_model_list_says_which_architectures_have_no_weights_here(window: MainWindow) -> None:
    combo = window.model_bar.model
    text = combo.itemText(combo.findData("resnet50"))
    assert "no weights yet" in text  # the tests' torch cache is empty


# --- issue 11: closing during a batch keeps what was classified -----------------------------


def test_closing_during_a_batch_offers_to_save_what_was_classified(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, many_photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "kept.csv"
    prompts.results_path = str(out)
    prompts.close_answer = "save"
    _when_first_results_arrive(window, window.close)
    drop(window, [many_photos])
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
    assert any(q.startswith("ask_close") for q in prompts.asked)
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert 0 < len(rows) <= MANY and all(r["label_1"] for r in rows)
    assert window.controller.results.counts()[RowState.CLASSIFIED] == len(rows)


# --- whole-photo Grad-CAM -------------------------------------------------------------------


def test_whole_photo_heat_map_covers_a_wide_photo_and_says_which_map_it_is(
    qtbot, window: MainWindow, settings: Settings, tmp_path: Path
) -> None:
    wide = tmp_path / "panorama.png"
    photo(480, 120, seed=3).save(wide)
    drop(window, [wide])
    wait_until_classified(qtbot, window, rows=1)
    explainer, inspector = window.controller.explainer, window.inspector
    qtbot.waitUntil(lambda: explainer.current is not None, timeout=30_000)
    crop_map = explainer.current.explanation.heatmap
    assert crop_map[:, :100].max() == 0  # the centre crop leaves the sides blank
    assert "centre square" in inspector.status.text()
    with qtbot.waitSignal(explainer.explained, timeout=30_000):
        inspector.scope_box.setCurrentIndex(inspector.scope_box.findData("whole"))
        inspector.scope_box.activated.emit(inspector.scope_box.currentIndex())
    whole_map = explainer.current.explanation.heatmap
    assert whole_map.shape == crop_map.shape
    assert whole_map[:, :100].max() > 0 and whole_map[:, -100:].max() > 0
    assert "whole photo" in inspector.status.text() and inspector.legend.isVisible()
    assert settings.cam_scope == "whole"
