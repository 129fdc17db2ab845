"""PETSc's COO matrix assembly (MatSetPreallocationCOOLocal / MatSetValuesCOO) for any petsc4py.

A fixed sparsity filled again at every Newton step is what COO assembly is for:
PETSc sorts the entries once and afterwards copies a value array straight into
its storage. ``setValuesLocalCSR`` instead maps and binary-searches every row at
every call (0.41 s against 0.06 s per Jacobian at 1024², 38 M entries; session 7).
petsc4py gained these calls only after 3.18, the version Debian 12 ships, so they
are called from PETSc's library through ctypes; the C API is the same from PETSc
3.17 on.
"""
from __future__ import annotations

import ctypes
import functools

import numpy as np

COO_ATTR = "bda_coo"  # set on a matrix whose entries are given by set_values()


@functools.cache
def _lib():
    from petsc4py import PETSc

    # petsc4py's extension module is linked against libpetsc: dlsym through it finds PETSc's symbols
    lib = ctypes.CDLL(PETSc.__file__)
    lib.MatSetPreallocationCOOLocal.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_void_p]
    lib.MatSetValuesCOO.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    return lib


def _check(code: int, call: str) -> None:
    if code != 0:  # PETSc has printed its error stack
        raise RuntimeError(f"PETSc {call} failed with error code {code}")


def preallocate_local(mat, rows: np.ndarray, columns: np.ndarray) -> None:
    """Fix ``mat``'s nonzeros to the entries (rows[k], columns[k]) in local numbering (collective).

    The matrix needs its sizes, type and local-to-global map. Repeated entries are
    summed by :func:`set_values`; negative indices are ignored.
    """
    from petsc4py import PETSc

    # PETSc may overwrite the index arrays, so it gets copies in its own integer type
    i = np.array(rows, dtype=PETSc.IntType)
    j = np.array(columns, dtype=PETSc.IntType)
    if i.shape != j.shape:
        raise ValueError(f"COO rows ({i.size}) and columns ({j.size}) differ in length")
    _check(_lib().MatSetPreallocationCOOLocal(mat.handle, i.size, i.ctypes.data, j.ctypes.data),
           "MatSetPreallocationCOOLocal")
    mat.setAttr(COO_ATTR, i.size)


def set_values(mat, values: np.ndarray) -> None:
    """Overwrite every entry of a matrix from :func:`preallocate_local` (collective; assembles it)."""
    from petsc4py import PETSc

    if values.dtype != PETSc.ScalarType or not values.flags.c_contiguous:
        raise ValueError(f"COO values must be a contiguous {np.dtype(PETSc.ScalarType)} array")
    if values.size != mat.getAttr(COO_ATTR):
        raise ValueError(f"{values.size} COO values for a matrix preallocated with {mat.getAttr(COO_ATTR)}")
    _check(_lib().MatSetValuesCOO(mat.handle, values.ctypes.data, int(PETSc.InsertMode.INSERT_VALUES)),
           "MatSetValuesCOO")
