"""Model > About This Model in the real window: the loaded model's stages, size and records."""

from __future__ import annotations

from gui.main_window import MainWindow


def test_about_this_model_shows_the_loaded_models_stage_table(qtbot, window: MainWindow) -> None:
    titles = [a.text() for a in window.menuBar().actions()]
    model_menu = window.menuBar().actions()[titles.index("&Model")].menu()
    action = next(a for a in model_menu.actions() if a.text() == "About This Model…")
    action.trigger()
    dialog = window.model_info_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.facts is not None
    assert dialog.facts.title == "tiny.reslens"  # the model in use, not the default architecture
    table = dialog.stages
    assert table.rowCount() == 4
    assert [table.item(r, 1).text() for r in range(4)] == ["BasicBlock"] * 4
    assert [table.item(r, 2).text() for r in range(4)] == ["2"] * 4
    assert [table.item(r, 4).text() for r in range(4)] == ["64", "128", "256", "512"]
    assert "note" not in dialog.details.toPlainText()  # no records: says so instead
    assert "No training records" in dialog.details.toPlainText()
    dialog.close()


def test_model_info_dialog_for_a_pruned_file_shows_its_lineage(
    qtbot, tmp_path, tiny_model_file
) -> None:  # type: ignore[no-untyped-def]
    from engine.training.prune import PruneConfig, prune
    from gui.dialogs.model_info import ModelInfoDialog

    pruned = tmp_path / "pruned.reslens"
    prune(tiny_model_file, None, pruned, PruneConfig(ratio=0.5, epochs=0, device="cpu"))
    dialog = ModelInfoDialog(pruned)
    qtbot.addWidget(dialog)
    assert [dialog.stages.item(r, 4).text() for r in range(4)] == ["32", "64", "128", "256"]
    assert "50% of channels removed from tiny.reslens" in dialog.details.toPlainText()


def test_model_info_dialog_says_why_when_a_file_cannot_be_read(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gui.dialogs.model_info import ModelInfoDialog

    broken = tmp_path / "broken.reslens"
    broken.write_bytes(b"not a model")
    dialog = ModelInfoDialog(broken)
    qtbot.addWidget(dialog)
    assert dialog.facts is None
