"""Config defaults in the PETSc options database, without ever overriding the command line.

Each solver has an options prefix (``pf_``, ``fem_``, ``dfn_``); its TOML defaults are inserted under
that prefix unless the user already gave the option (command line, ``PETSC_OPTIONS``), only while that
solver calls into PETSc (set-up, solve: PETSc reads split and sub-solver options lazily), so that one
solver's settings never reach another solver in the same process, alive or later. ``setFromOptions()``
then reads them as usual.
"""
from __future__ import annotations

from collections.abc import Mapping


class prefixed_defaults:
    """Context manager for one solver's default options; entered again around each of its PETSc calls."""

    def __init__(self, prefix: str, options: Mapping):
        self.prefix = prefix
        self.options = dict(options)
        self.inserted: list[str] = []

    def insert(self) -> prefixed_defaults:
        from petsc4py import PETSc

        db = PETSc.Options()
        for key, value in self.options.items():
            name = self.prefix + key
            if not db.hasName(name):
                db.setValue(name, str(value).lower() if isinstance(value, bool) else str(value))
                self.inserted.append(name)
        return self

    def remove(self) -> None:
        from petsc4py import PETSc

        db = PETSc.Options()
        for name in self.inserted:
            db.delValue(name)
        self.inserted = []

    def __enter__(self) -> prefixed_defaults:
        return self.insert()

    def __exit__(self, *exc) -> bool:
        self.remove()
        return False
