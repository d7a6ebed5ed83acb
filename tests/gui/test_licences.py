"""Help > About > Licences shows every distribution ResLens needs, with its licence text."""

from __future__ import annotations

import PIL
from PySide6.QtCore import Qt

from engine.notices import requirement_closure
from gui.dialogs.about import AboutDialog


def test_about_opens_the_licences_with_each_distribution_and_its_text(qtbot) -> None:
    about = AboutDialog("ResNet-50 · random init · torch on cpu", "cpu")
    qtbot.addWidget(about)
    texts = " ".join(label.text() for label in about.findChildren(type(about.licences_button)))

    assert "Licences" in texts
    qtbot.mouseClick(about.licences_button, Qt.MouseButton.LeftButton)
    licences = about.licences
    assert licences is not None and licences.isVisible()

    listed = [licences.list.item(i).text() for i in range(licences.list.count())]
    assert [item.split(" ")[0] for item in listed] == requirement_closure()
    assert f"pillow {PIL.__version__} (MIT-CMU)" in listed
    licences.select("pillow")
    assert "Permission to use, copy, modify" in licences.text.toPlainText()  # the MIT-CMU text
    assert "GPL-only" not in licences.summary.text()
