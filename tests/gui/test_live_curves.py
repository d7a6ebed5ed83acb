"""The live learning curves draw every report soon after it comes, but not on every report."""

from __future__ import annotations

from engine.training.records import EpochRecord, TrainProgress
from gui.training.curves import REDRAW_MS, LiveCurves


def _epoch(n: int) -> EpochRecord:
    return EpochRecord(n, "full", 1 / n, 1 - 1 / (n + 1), 1.1 / n, 0.8, 0.8, 1e-3, 1.0, 10.0, True)


def test_reports_reach_the_screen_within_the_redraw_period(qtbot) -> None:  # type: ignore[no-untyped-def]
    curves = LiveCurves()
    qtbot.addWidget(curves)
    curves.show()
    history: tuple[EpochRecord, ...] = ()
    for step in range(1, 41):
        if step == 21:
            history = (_epoch(1),)
        epoch = 1 if step <= 20 else 2
        curves.add_progress(
            TrainProgress("training", epoch, 5, (step - 1) % 20 + 1, 20, 1 / step, history=history)
        )
    # 40 reports in a burst are one redraw, not 40: nothing is drawn yet ...
    assert curves.drawn() == (0, 0)
    assert len(curves.step_points) == 40 and curves.history == history
    # ... and all of it is drawn within the redraw period (the accuracy plot half a period
    # after the loss plot, so the two never repaint at once).
    qtbot.waitUntil(lambda: curves.drawn() == (40, 1), timeout=4 * REDRAW_MS)
    curves.clear()
    curves.set_history((_epoch(1), _epoch(2), _epoch(3)))  # a finished run: epoch means
    qtbot.waitUntil(lambda: curves.drawn() == (3, 3), timeout=4 * REDRAW_MS)
