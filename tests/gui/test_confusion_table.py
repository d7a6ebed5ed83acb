"""The confusion matrix stays readable with long class names."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gui.training.results import ConfusionTable

NAMES = ("brick", "hubble_deep_field", "immunohistochemistry_stained_tissue", "grass")


def test_long_class_names_fit_elided_in_the_middle_with_the_full_name_on_hover(qtbot) -> None:  # type: ignore[no-untyped-def]
    table = ConfusionTable()
    qtbot.addWidget(table)
    table.resize(600, 220)
    table.show()
    confusion = tuple(tuple(8 if i == j else 0 for j in range(4)) for i in range(4))
    table.show_matrix(confusion, NAMES)
    qtbot.waitExposed(table)
    # The columns share the width (no sideways scrolling), the row names take at most 180 px,
    # and both keep a name's start and end rather than cutting it at one side.
    assert not table.horizontalScrollBar().isVisible()
    assert table.verticalHeader().width() <= 180
    for header in (table.horizontalHeader(), table.verticalHeader()):
        assert header.textElideMode() == Qt.TextElideMode.ElideMiddle
    long = NAMES.index("immunohistochemistry_stained_tissue")
    assert "immunohistochemistry_stained_tissue" in table.horizontalHeaderItem(long).toolTip()
    assert (
        table.verticalHeaderItem(long).toolTip()
    ) == "true class immunohistochemistry_stained_tissue"
