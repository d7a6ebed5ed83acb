"""Third-party notices: name, version, licence and licence texts of the distributions ResLens
ships with, read from their installed metadata (nothing is imported).

The packaged app carries a generated ``THIRD_PARTY_NOTICES.txt`` (``packaging/build.py``
writes it for exactly the distributions in the bundle); run from source, the notices are made
on the fly for what ResLens requires. Help > About > Licences shows them.

>>> notices = collect_notices(["pillow"])                  # doctest: +SKIP
>>> notices[0].name, notices[0].licence                    # doctest: +SKIP
('pillow', 'MIT-CMU')
>>> parse_notices(render_notices(notices)) == notices      # doctest: +SKIP
True
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from engine.resources import assets_dir

NOTICES_FILE = "THIRD_PARTY_NOTICES.txt"
_LICENCE_FILE = re.compile(
    r"^(LICEN[CS]E|COPYING|NOTICE|THIRDPARTYNOTICES|THIRD_PARTY_NOTICES)", re.I
)
_RULE = "=" * 30 + " distribution " + "=" * 30
_SUB_RULE = "-" * 30 + " licence file " + "-" * 30
# Distributions without any licence file: a standard text of their SPDX licence, where the
# system has one (Debian/Ubuntu keep them in /usr/share/common-licenses).
_COMMON_LICENCES = Path("/usr/share/common-licenses")
_SPDX_TO_COMMON = {
    "LGPL-3.0-only": "LGPL-3",
    "GPL-3.0-only": "GPL-3",
    "GPL-2.0-only": "GPL-2",
    "Apache-2.0": "Apache-2.0",
    "Apache 2.0": "Apache-2.0",
}


@dataclass(frozen=True)
class Notice:
    """One distribution: its licence (an SPDX expression where it declares one) and texts
    as ``(file name, text)`` pairs, in the order found."""

    name: str
    version: str
    licence: str
    texts: tuple[tuple[str, str], ...]

    @property
    def gpl_only(self) -> bool:
        """True when every option of the licence is GPL (not LGPL): it could not be shipped
        in a BSD-licensed app. ``LGPL-3.0-only OR GPL-2.0-only`` is fine (LGPL is an option)."""
        options = re.split(r"\s+OR\s+", self.licence.replace("(", " ").replace(")", " "))
        return bool(options) and all(_is_gpl(option) for option in options)


def _is_gpl(option: str) -> bool:
    """A licence option that is the GPL; one ``WITH`` a linking exception (PyInstaller's
    Bootloader-exception, GCC's run-time exception) is not: it allows shipping in any app."""
    text = option.upper()
    if " WITH " in text:
        return False
    return "GPL" in text and "LGPL" not in text and "LESSER" not in text


def _field(dist: md.Distribution, name: str) -> str:
    """A metadata field's value, stripped; "" when absent."""
    values = dist.metadata.get_all(name) or []
    return str(values[0]).strip() if values else ""


def licence_of(dist: md.Distribution) -> str:
    """The declared licence: ``License-Expression`` (PEP 639), else a short ``License``
    field, else the trove classifiers, else ``"unknown"``."""
    expression = _field(dist, "License-Expression")
    if expression:
        return expression
    field = _field(dist, "License")
    if field and "\n" not in field and len(field) <= 120:
        return field
    classifiers = [
        c.split("::")[-1].strip()
        for c in (dist.metadata.get_all("Classifier") or [])
        if c.startswith("License ::")
    ]
    return " OR ".join(classifiers) or "unknown"  # several classifiers: a choice of licences


def licence_texts(dist: md.Distribution, licence: str) -> tuple[tuple[str, str], ...]:
    """The distribution's licence files (its ``.dist-info`` ones first, else those at the top
    of its packages), else a standard text for its SPDX licence, else a full ``License``
    field."""
    files = _licence_files(dist)
    in_metadata = [f for f in files if ".dist-info/" in f]
    chosen = in_metadata or [f for f in files if f.count("/") <= 1]
    texts = []
    for file in chosen:
        try:
            text = Path(str(dist.locate_file(file))).read_text("utf-8", "replace")
        except OSError:
            continue
        texts.append((file, _ends_with_newline(text)))
    if texts:
        return tuple(texts)
    return _fallback_texts(dist, licence)


def _licence_files(dist: md.Distribution) -> list[str]:
    """Paths of the distribution's licence-like files, from its RECORD (read as text: making
    ``dist.files`` objects for torch's 29,000 entries takes seconds)."""
    record = dist.read_text("RECORD") or ""
    paths = [line.rsplit(",", 2)[0] for line in record.splitlines() if line]
    return [p for p in paths if _LICENCE_FILE.match(p.rsplit("/", 1)[-1])]


def _ends_with_newline(text: str) -> str:
    return text.rstrip("\n") + "\n"


def _fallback_texts(dist: md.Distribution, licence: str) -> tuple[tuple[str, str], ...]:
    field = _field(dist, "License")
    if "\n" in field:  # some projects put the whole licence text in the field
        return (("License metadata field", _ends_with_newline(field)),)
    texts = []
    for option in re.split(r"\s+(?:OR|AND)\s+", licence):
        common = _COMMON_LICENCES / _SPDX_TO_COMMON.get(option.strip(), "-")
        if common.is_file():
            texts.append(
                (
                    f"{common} (standard {option.strip()} text)",
                    _ends_with_newline(common.read_text()),
                )
            )
    return tuple(texts)


def collect_notices(dists: Iterable[str]) -> list[Notice]:
    """Notices for the installed distributions named, sorted by name; missing ones left out."""
    found: dict[str, Notice] = {}
    for name in dists:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        key = canonical(dist.metadata["Name"])
        licence = licence_of(dist)
        found[key] = Notice(key, dist.version, licence, licence_texts(dist, licence))
    return [found[k] for k in sorted(found)]


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name: ``PySide6_Essentials`` -> ``pyside6-essentials``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_closure(root: str = "reslens") -> list[str]:
    """Every distribution that ``root`` needs at run time, recursively, as installed here:
    markers evaluated for this machine, with the extras a requirement asks for (torch needs
    ``cuda-toolkit[cublas,...]``) but not ``root``'s own (its dev tools); ``root`` excluded."""
    seen: set[tuple[str, str]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        name = canonical(name)
        fresh = {e for e in {"", *extras} if (name, e) not in seen}
        seen |= {(name, e) for e in fresh}
        try:
            requires = md.distribution(name).requires or [] if fresh else []
        except md.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in fresh):
                todo.append((req.name, frozenset(req.extras)))
    return sorted({name for name, _ in seen} - {canonical(root)})


def render_notices(notices: Iterable[Notice], title: str = "ResLens third-party notices") -> str:
    """The notices file: a header, an index line per distribution, then each one's texts."""
    notices = list(notices)
    lines = [title, "", "Distribution, version and licence of everything listed below:", ""]
    lines += [f"  {n.name} {n.version}  ({n.licence})" for n in notices]
    for n in notices:
        lines += ["", _RULE, f"Name: {n.name}", f"Version: {n.version}", f"License: {n.licence}"]
        if not n.texts:
            lines += ["", "(no licence text in the installed metadata; see the licence above)"]
        for file, text in n.texts:
            lines += [_SUB_RULE, f"File: {file}", "", text.rstrip("\n")]
    return "\n".join(lines) + "\n"


def parse_notices(text: str) -> list[Notice]:
    """The notices that :func:`render_notices` wrote into ``text``."""
    notices = []
    for block in text.split(f"\n{_RULE}\n")[1:]:
        head, *parts = block.split(f"\n{_SUB_RULE}\n")
        fields = dict(line.split(": ", 1) for line in head.splitlines()[:3])
        texts = []
        for part in parts:
            first, _, body = part.partition("\n\n")
            texts.append((first.removeprefix("File: "), body.rstrip("\n") + "\n"))
        notices.append(Notice(fields["Name"], fields["Version"], fields["License"], tuple(texts)))
    return notices


def bundled_notices_path() -> Path:
    """Where the packaged app keeps its notices file (absent when run from source)."""
    return assets_dir() / NOTICES_FILE


def load_notices() -> list[Notice]:
    """The bundle's notices when packaged, else notices for what ResLens needs, made now."""
    path = bundled_notices_path()
    if path.is_file():
        return parse_notices(path.read_text(encoding="utf-8"))
    return collect_notices(requirement_closure())
