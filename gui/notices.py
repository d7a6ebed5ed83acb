"""A line for the window's message bar: what happened, or what went wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Notice:
    level: str  # "info", "warning" or "error"
    text: str
