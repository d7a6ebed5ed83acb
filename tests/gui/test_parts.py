"""The window's parts on their own: thumbnails, the results model, settings, drops, dialogs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QUrl

from engine.errors import WeightsNotFoundError
from engine.inference.batch import FileResult
from engine.runtime.classifier import Prediction
from gui.dialogs.about import AboutDialog
from gui.dialogs.missing_weights import MissingWeightsDialog
from gui.dialogs.sort_copies import SortCopiesDialog
from gui.results_model import ResultsModel, Role, RowState
from gui.settings import Settings
from gui.thumbnails import ThumbnailProvider
from gui.widgets.drop import paths_from_mime, paths_from_text
from tests.conftest import photo


def _photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"t{i}.jpg"
        photo(300, 200, seed=i).save(path)
        paths.append(path)
    return paths


def test_thumbnails_load_lazily_and_the_cache_stays_bounded(qtbot, tmp_path: Path) -> None:
    provider = ThumbnailProvider(max_items=3)
    paths = [str(p) for p in _photos(tmp_path / "t", 6)]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    ready: list[str] = []
    provider.ready.connect(ready.append)
    assert provider.pixmap(paths[0]) is None  # not decoded yet: queued
    for path in [*paths[1:], str(broken)]:
        provider.pixmap(path)
    qtbot.waitUntil(lambda: len(ready) == 7, timeout=30_000)
    assert len(provider) == 3  # only the most recent three are kept
    assert provider.failed(str(broken))
    thumb = provider.pixmap([p for p in ready if p != str(broken)][-1])
    assert thumb is not None and max(thumb.width(), thumb.height()) == 128
    provider.shutdown()


def test_results_model_rows_states_and_results(qtbot, tmp_path: Path) -> None:
    provider = ThumbnailProvider()
    model = ResultsModel(provider)
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.txt"
    model.add_files([a, b], [(c, "unsupported file type (.txt)")])
    model.add_files([a])  # already listed: ignored
    assert model.rowCount() == 3
    assert model.waiting_rows() == [0, 1]
    prediction = Prediction(("cat", "dog"), (0, 1), (0.9, 0.1))
    model.set_results([0, 1], [FileResult(a, prediction), FileResult(b, error="truncated file")])
    assert model.state(0) is RowState.CLASSIFIED
    assert model.index(0).data(Role.SUMMARY) == "cat 90.0%"
    assert model.index(1).data(Role.SUMMARY) == "truncated file"
    assert "dog: 10.0%" in model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert [r.error for r in model.results()] == [
        None,
        "truncated file",
        "skipped: unsupported file type (.txt)",
    ]
    model.reset_results()
    assert model.waiting_rows() == [0, 1] and model.state(2) is RowState.SKIPPED
    model.clear()
    assert model.rowCount() == 0
    provider.shutdown()


def test_settings_defaults_and_bad_values(tmp_path: Path) -> None:
    settings = Settings.at(tmp_path / "s.ini")
    assert settings.model == "resnet50" and settings.device == "cpu"
    assert settings.top_k == 5 and settings.opacity == 50 and settings.view_mode == "overlay"
    settings.q.setValue("view/top_k", "lots")
    settings.q.setValue("view/opacity", 400)
    settings.q.setValue("view/mode", "sepia")
    assert settings.top_k == 5 and settings.opacity == 100 and settings.view_mode == "overlay"
    settings.set_weights_file("resnet50", str(tmp_path / "gone.pth"))
    assert settings.weights_file("resnet50") is None  # a file that no longer exists
    for i in range(8):
        settings.add_recent_model(f"/m/{i}.reslens")
    assert settings.recent_models[0] == "/m/7.reslens" and len(settings.recent_models) == 5


def test_paths_from_drops_and_pasted_text(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_bytes(b"")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "x.jpg")), QUrl("https://example.com/a.jpg")])
    assert paths_from_mime(mime) == [tmp_path / "x.jpg"]
    text = f'"{tmp_path / "x.jpg"}"\n\nfile://{tmp_path}\n/no/such/thing\n'
    assert paths_from_text(text) == [tmp_path / "x.jpg", tmp_path]


def test_sort_dialog_summarises_and_refuses_source_folders(qtbot, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    prediction = Prediction(("cat",), (0,), (0.55,))
    sure = Prediction(("dog",), (1,), (0.95,))
    results = [FileResult(src / "a.jpg", prediction), FileResult(src / "b.jpg", sure),
               FileResult(src / "c.jpg", error="broken")]  # fmt: skip
    dialog = SortCopiesDialog(results, [src], "", lambda start: str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled() and "Choose" in dialog.summary.text()
    dialog._browse()
    assert dialog.destination.text() == str(tmp_path / "out")
    assert ok.text() == "Copy 2 Files"
    dialog.uncertain.setChecked(True)
    dialog.threshold.setValue(60)
    assert "1 → _uncertain/" in dialog.summary.text()
    assert "1 files that could not be classified" in dialog.summary.text()
    dialog.destination.setText(str(src))
    assert not ok.isEnabled() and dialog.plan() is None


def test_missing_weights_dialog_progress_and_about(qtbot, tmp_path: Path) -> None:
    error = WeightsNotFoundError(
        "resnet50", "resnet50-11ad3fa6.pth", tmp_path, "https://x/y.pth", "offline"
    )
    dialog = MissingWeightsDialog(error)
    qtbot.addWidget(dialog)
    asked: list[str] = []
    dialog.retry_download.connect(asked.append)
    qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert asked == ["resnet50"] and not dialog.retry_button.isEnabled()
    dialog.show_progress(5_000_000, 10_000_000)
    assert dialog.progress.value() == 5_000_000 and "5.0 / 10.0 MB" in dialog.progress.format()
    about = AboutDialog("ResNet-50 · random init · torch on cpu", "cpu")
    qtbot.addWidget(about)
    texts = " ".join(label.text() for label in about.findChildren(type(dialog.reason)))
    assert "PySide6" in texts and "numpy" in texts and "ResNet-50" in texts


def test_long_sessions_survive_pyside_reference_count_bug() -> None:
    """PySide6 6.12 on Python 3.11 drops a reference to None/True per void call or emit."""
    import subprocess
    import sys

    code = (
        "import gui\n"
        "from PySide6.QtCore import QObject, QRect, Signal\n"
        "class O(QObject):\n    s = Signal(int)\n"
        "o, r = O(), QRect()\n"
        "for _ in range(300_000):\n    r.setWidth(5); o.s.emit(1)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-500:]


def test_batches_shrink_for_heavy_networks_so_cancel_stays_quick() -> None:
    from engine.imaging.preprocess import PreprocessSpec
    from engine.inference.session import batch_size_for
    from engine.runtime.classifier import Classifier, ModelSource

    class Device:
        name = "stub"

        def __init__(self, device: str) -> None:
            self.device = device

    def classifier(arch: str, device: str = "cpu") -> Classifier:
        source = ModelSource(arch, arch, "test", False)
        return Classifier(
            Device(device), class_names=["a"], preprocess=PreprocessSpec(), source=source
        )  # type: ignore[arg-type]

    assert batch_size_for(classifier("resnet50")) == 8
    assert batch_size_for(classifier("resnet152")) < batch_size_for(classifier("resnet101")) < 8
    assert batch_size_for(classifier("resnet152", "cuda:0")) == 32
