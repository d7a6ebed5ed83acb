"""Keep PySide6 from freeing None, True and False on Python 3.11.

PySide6 6.12 returns ``None`` from void methods (``QPainter.setPen``, ``QRect.setWidth``...) and
``True`` from ``Signal.emit`` without taking a reference, as if these objects were immortal,
which they are only from Python 3.12 on (PEP 683). On 3.11 every such call lowers their
reference count by one; after some thousands of calls (a minute of painting thumbnails) the
interpreter aborts with "Fatal Python error: none_dealloc" or "bool_dealloc". Until we require
Python 3.12 or PySide6 fixes it, we give the three objects a reference count so high that it
cannot reach zero, which is what Python 3.12 does for them anyway.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_EXTRA_REFERENCES = 1 << 40
_applied = False


def make_singletons_immortal() -> bool:
    """Raise the reference counts of None, True, False once; True if it was needed and done."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False):
        before = sys.getrefcount(obj)
        count = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt leads every PyObject
        count.value += _EXTRA_REFERENCES
        # Creating the ctypes view itself takes a few references; the layout check allows that.
        if abs(sys.getrefcount(obj) - before - _EXTRA_REFERENCES) > 1000:
            count.value -= _EXTRA_REFERENCES
            log.warning("could not protect %r from PySide6's reference count bug", obj)
            return False
    _applied = True
    return True
