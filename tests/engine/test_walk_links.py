from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.imaging.walk import find_images, walk_images

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")


def test_a_link_and_its_file_give_one_row_named_by_the_real_file(tmp_path: Path) -> None:
    real = tmp_path / "z_real.jpg"
    real.write_bytes(b"\xff\xd8 pixels")
    (tmp_path / "a_link.jpg").symlink_to(real)  # walked first: sorted by name
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 other")
    images, skipped = find_images([tmp_path])
    assert images == [real, tmp_path / "b.jpg"]
    assert skipped == [(tmp_path / "a_link.jpg", f"same file as {real}")]


def test_a_linked_folder_reached_twice_reports_the_second_path(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    photo = tmp_path / "photos" / "p.png"
    photo.write_bytes(b"png")
    (tmp_path / "alias").symlink_to(tmp_path / "photos", target_is_directory=True)
    skips: list[tuple[Path, str]] = []
    found = list(
        walk_images(
            [photo, tmp_path / "alias" / "p.png", photo], on_skip=lambda *s: skips.append(s)
        )
    )
    assert found == [photo]
    assert skips == [(tmp_path / "alias" / "p.png", f"same file as {photo}")]
    images, skipped = find_images([tmp_path / "alias" / "p.png", tmp_path / "photos"])
    assert images == [photo]
    assert skipped == [(tmp_path / "alias" / "p.png", f"same file as {photo}")]
