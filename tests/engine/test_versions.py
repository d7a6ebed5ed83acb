"""The one version lookup: what it reports is what the libraries themselves say."""

from __future__ import annotations

import platform

import numpy
import PIL

from engine.versions import installed_version, version_or_unknown, versions


def test_versions_match_the_libraries_own_version_strings() -> None:
    found = versions(["pillow", "numpy"])

    assert found == {
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "numpy": numpy.__version__,
    }
    assert list(found) == ["python", "pillow", "numpy"]  # the order asked for


def test_a_distribution_that_is_not_installed_is_left_out_or_unknown() -> None:
    assert installed_version("no-such-distribution-reslens") is None
    assert version_or_unknown("no-such-distribution-reslens") == "unknown"
    assert "no-such-distribution-reslens" not in versions(["no-such-distribution-reslens"])


def test_names_are_matched_as_pip_does() -> None:
    assert installed_version("Pillow") == installed_version("pillow") == PIL.__version__
