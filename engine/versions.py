"""Installed versions of ResLens and the libraries it uses, read from package metadata.

The one place that asks "which version of X is installed?": nothing is imported to answer
(``import torch`` takes seconds), and inside the packaged app the answers come from the
metadata that the bundle carries (``packaging/reslens.spec`` copies it).

>>> installed_version("reslens")            # doctest: +SKIP
'0.1.0'
>>> versions(("torch", "no-such-package"))  # doctest: +SKIP
{'python': '3.11.7', 'torch': '2.14.1'}
"""

from __future__ import annotations

import importlib.metadata as md
import platform
from collections.abc import Iterable

UNKNOWN = "unknown"
"""What :func:`version_or_unknown` says for a distribution that is not installed."""


def installed_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` ("torch", "PySide6-Essentials"), or None."""
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def version_or_unknown(dist: str) -> str:
    """:func:`installed_version`, with ``"unknown"`` for a distribution that is not installed."""
    return installed_version(dist) or UNKNOWN


def versions(dists: Iterable[str]) -> dict[str, str]:
    """``{"python": ..., dist: version, ...}`` in the order given, leaving out what is missing."""
    found = {"python": platform.python_version()}
    for dist in dists:
        version = installed_version(dist)
        if version is not None:
            found[dist] = version
    return found
