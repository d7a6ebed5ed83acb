"""ResLens desktop app (PySide6): a thin layer over :mod:`engine`."""

from gui._refcounts import make_singletons_immortal

make_singletons_immortal()
