"""The notices file of a bundle: which installed distributions PyInstaller collected files
from (its Analysis TOCs), plus Python itself and the system libraries copied from the build
machine, each with its licence text. Used by reslens.spec; see engine/notices.py for the format.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from engine.notices import Notice, canonical, collect_notices, render_notices

APP = "reslens"
# What PyInstaller embeds in every app (the bootloader, PyInstaller/loader: GPL with its
# Bootloader exception; run-time hooks and fake-modules: Apache-2.0), per its COPYING.txt.
PYINSTALLER_EMBEDDED = "(GPL-2.0-or-later WITH Bootloader-exception) AND Apache-2.0"


def file_owners() -> dict[str, str]:
    """{path of an installed file: the distribution that installed it}, from RECORDs (paths
    normalised, not resolved: resolving 50,000 of them takes seconds)."""
    owners = {}
    for dist in md.distributions():
        name = canonical(dist.metadata["Name"] or "")
        record = dist.read_text("RECORD") or ""
        for line in record.splitlines():
            path = line.rsplit(",", 2)[0].strip('"')
            if path:
                owners[os.path.normpath(str(dist.locate_file(path)))] = name
    return owners


def split_by_owner(sources: Iterable[str]) -> tuple[set[str], list[str]]:
    """The distributions owning any of ``sources`` (files PyInstaller collects), and the
    sources no distribution owns (the standard library, system libraries, our own code)."""
    owners = file_owners()
    dists, orphans = set(), []
    for source in sources:
        owner = owners.get(os.path.normpath(source)) or owners.get(os.path.realpath(source))
        if owner is None:
            orphans.append(source)
        elif owner != APP:
            dists.add(owner)
    return dists, orphans


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace").rstrip("\n") + "\n"


def python_notice() -> Notice:
    """The interpreter and standard library the bundle carries (PSF-2.0)."""
    licence = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    text_file = licence / "LICENSE.txt"
    texts = ((str(text_file), _text(text_file)),) if text_file.is_file() else ()
    return Notice("python", platform.python_version(), "PSF-2.0", texts)


def system_notices(binaries: Iterable[str]) -> list[Notice]:
    """Debian packages of the system libraries among ``binaries``, with their copyright file
    (empty where dpkg is missing: not a Debian/Ubuntu build machine)."""
    packages: dict[str, str] = {}
    for path in binaries:
        if not path.startswith(("/lib", "/usr/lib")):
            continue
        done = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, check=False)
        if done.returncode == 0 and ":" in done.stdout:
            packages.setdefault(done.stdout.split(":")[0].strip(), path)
    notices = []
    for package in sorted(packages):
        copyright_file = Path("/usr/share/doc") / package / "copyright"
        text = _text(copyright_file) if copyright_file.is_file() else ""
        licences = sorted(set(re.findall(r"^License: *(\S+)", text, re.M))) or ["see copyright"]
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
        ).stdout
        texts = ((str(copyright_file), text),) if text else ()
        notices.append(Notice(f"{package} (system)", version or "?", " AND ".join(licences), texts))
    return notices


def bundle_notices(toc_sources: list[str], binary_sources: list[str]) -> tuple[str, list[Notice]]:
    """The notices file's text for a bundle made of ``toc_sources`` (every collected file),
    and its notices (for the GPL check)."""
    dists, orphans = split_by_owner(toc_sources)
    dists.add("pyinstaller")  # its bootloader is the executable itself
    notices = [python_notice()]
    for notice in collect_notices(sorted(dists)):
        if notice.name == "pyinstaller":
            notice = replace(notice, licence=PYINSTALLER_EMBEDDED)
        notices.append(notice)
    notices += system_notices([s for s in binary_sources if s in set(orphans)])
    title = "ResLens third-party notices (everything this bundle was made from, but ResLens)"
    return render_notices(notices, title), notices
