"""Third-party notices made from the installed packages' metadata."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import PIL

from engine.notices import (
    Notice,
    collect_notices,
    parse_notices,
    render_notices,
    requirement_closure,
)


def test_a_notice_carries_the_licence_file_the_wheel_installed() -> None:
    [pillow] = collect_notices(["Pillow"])
    dist_info = Path(str(md.distribution("pillow").locate_file(""))) / (
        f"pillow-{PIL.__version__}.dist-info"
    )
    on_disk = next(p for p in dist_info.rglob("LICENSE*") if p.is_file())

    assert (pillow.name, pillow.version) == ("pillow", PIL.__version__)
    assert pillow.licence == md.metadata("pillow")["License-Expression"]
    assert [text.strip() for _, text in pillow.texts] == [on_disk.read_text().strip()]


def test_what_reslens_needs_is_found_recursively_without_dev_tools() -> None:
    names = requirement_closure()

    assert {"torch", "torchvision", "pyside6-essentials", "shiboken6", "pydicom"} <= set(names)
    assert "filelock" in names  # needed by torch, not by us directly
    assert "pytest" not in names and "ruff" not in names  # the dev extra is not shipped
    assert "reslens" not in names


def test_the_notices_file_reads_back_as_written() -> None:
    notices = collect_notices(requirement_closure())
    text = render_notices(notices)

    assert parse_notices(text) == notices
    for notice in notices:
        assert f"  {notice.name} {notice.version}  ({notice.licence})" in text


def test_nothing_reslens_needs_is_gpl_only() -> None:
    notices = collect_notices(requirement_closure())

    assert [n.name for n in notices if n.gpl_only] == []
    pyside = next(n for n in notices if n.name == "pyside6-essentials")
    assert "LGPL-3.0-only" in pyside.licence  # LGPL is one of its options: fine to ship


def test_gpl_only_means_no_option_other_than_the_gpl() -> None:
    def notice(licence: str) -> Notice:
        return Notice("x", "1", licence, ())

    assert notice("GPL-3.0-only").gpl_only
    assert notice("GPL-3.0-or-later").gpl_only
    assert notice("MIT AND GPL-2.0-only").gpl_only  # AND: both apply
    assert notice("GNU General Public License v3 (GPLv3)").gpl_only
    assert not notice("LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only").gpl_only
    assert not notice("GNU Lesser General Public License v3 (LGPLv3)").gpl_only
    assert not notice("MIT OR GPL-3.0-only").gpl_only
    assert not notice("BSD-3-Clause").gpl_only
    assert not notice("(GPL-2.0-or-later WITH Bootloader-exception) AND Apache-2.0").gpl_only
    # trove classifiers of a dual-licensed project (pyinstaller-hooks-contrib)
    assert not notice("Apache Software License OR GNU General Public License v2 (GPLv2)").gpl_only
