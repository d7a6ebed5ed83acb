"""Which images belong together: the group of every sample, so that no group is split.

A CT or MR export holds many slices per patient; scoring validation slices of a patient whose
other slices were trained on measures memory, not generalisation. So every sample has a group,
and splits keep each group whole. Rules (``--group-by``):

- ``auto`` (default): DICOM files by PatientID, else StudyInstanceUID, else the file itself;
  other files by themselves.
- ``dicom:PatientID`` / ``dicom:StudyInstanceUID``: that DICOM attribute (files without it:
  themselves).
- ``regex:PATTERN``: the first capture group (or the whole match) of PATTERN searched in the
  path relative to the data folder, e.g. ``regex:^[^/]+/(patient\\d+)_``.
- ``csv:FILE``: a CSV file of ``path,group`` rows, paths relative to the data folder.

A sample grouped by itself has its relative path as its group.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.errors import DatasetError

RuleKind = Literal["auto", "dicom", "regex", "csv"]
DICOM_KEYS = ("PatientID", "StudyInstanceUID")
_LISTED = 5


@dataclass(frozen=True)
class GroupRule:
    """A parsed ``--group-by`` rule; ``text`` is what the user wrote."""

    kind: RuleKind
    text: str
    key: str = ""  # the DICOM attribute, or the regular expression
    table: Mapping[str, str] = field(default_factory=dict)  # csv: relative path -> group


@dataclass(frozen=True)
class GroupKeys:
    """What a sample offers to group by: its path relative to the data folder (POSIX) and,
    for DICOM files, its PatientID and StudyInstanceUID."""

    relative: str
    patient_id: str | None = None
    study_uid: str | None = None


def parse_group_rule(text: str) -> GroupRule:
    """Parse a ``--group-by`` value; :class:`DatasetError` naming the accepted forms."""
    kind, _, value = text.partition(":")
    if text == "auto":
        return GroupRule("auto", text)
    if kind == "dicom" and value in DICOM_KEYS:
        return GroupRule("dicom", text, value)
    if kind == "regex" and value:
        try:
            re.compile(value)
        except re.error as exc:
            raise DatasetError(
                f"--group-by {text}: not a valid regular expression ({exc})."
            ) from exc
        return GroupRule("regex", text, value)
    if kind == "csv" and value:
        return GroupRule("csv", text, value, _read_table(Path(value).expanduser()))
    raise DatasetError(
        f"--group-by {text!r} is not a rule ResLens knows. Use auto, dicom:PatientID, "
        "dicom:StudyInstanceUID, regex:PATTERN (first capture group of the relative path) or "
        "csv:FILE (rows of path,group)."
    )


def assign_groups(rule: GroupRule, keys: Sequence[GroupKeys]) -> list[str]:
    """The group of each sample under ``rule``. Raises :class:`DatasetError` when a regex or
    CSV rule leaves files without a group (naming some), since a silently ungrouped file
    could leak a patient across splits."""
    groups = [_group_of(rule, k) for k in keys]
    missing = [k.relative for k, g in zip(keys, groups, strict=True) if g is None]
    if missing:
        what = "match the pattern" if rule.kind == "regex" else "appear in the CSV file"
        shown = ", ".join(missing[:_LISTED]) + (" ..." if len(missing) > _LISTED else "")
        raise DatasetError(
            f"--group-by {rule.text}: {len(missing)} file(s) do not {what}, so their group is "
            f"unknown: {shown}. Cover every file, or use another rule."
        )
    return [g for g in groups if g is not None]


def _group_of(rule: GroupRule, key: GroupKeys) -> str | None:
    if rule.kind == "auto":
        return key.patient_id or key.study_uid or key.relative
    if rule.kind == "dicom":
        value = key.patient_id if rule.key == "PatientID" else key.study_uid
        return value or key.relative
    if rule.kind == "regex":
        match = re.search(rule.key, key.relative)
        if match is None:
            return None
        return match.group(1) if match.groups() else match.group(0)
    return rule.table.get(key.relative)


def _read_table(path: Path) -> dict[str, str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if row and any(c.strip() for c in row)]
    except OSError as exc:
        raise DatasetError(f"Cannot read the group file {path}: {exc.strerror or exc}") from exc
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "group"]:
        rows = rows[1:]
    bad = [i + 1 for i, row in enumerate(rows) if len(row) < 2 or not row[1].strip()]
    if bad:
        raise DatasetError(
            f"{path}: every row needs a path and a group (path,group); row(s) {bad[:_LISTED]} do not."
        )
    return {Path(row[0].strip()).as_posix(): row[1].strip() for row in rows}
