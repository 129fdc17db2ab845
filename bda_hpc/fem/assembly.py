"""PETSc matrix and right-hand side of -div(sigma grad u) = f on a voxel grid (Q1 elements).

The compiled kernels (``bda_hpc._ext.fem_q1.q1_rows``, ``fem_fv.fv_rows``) build
the CSR rows of the points each rank owns; they become an MPIAIJ matrix
without off-rank communication and without copying entry by entry (see the
kernels' docstrings for the row-wise scheme).
"""
from __future__ import annotations

import numpy as np

from . import q1
from .grid import VoxelGrid

_EVENTS: dict = {}


def log_event(name: str):
    """A PETSc log event of the fem package (created once per process)."""
    from petsc4py import PETSc

    if name not in _EVENTS:
        _EVENTS[name] = PETSc.Log.Event(f"fem.{name}")
    return _EVENTS[name]


def ghosted_elements(grid: VoxelGrid, sigma: np.ndarray) -> np.ndarray:
    """This rank's ghosted part of a replicated element field (shape = voxels)."""
    if tuple(sigma.shape) != grid.voxels:
        raise ValueError(f"element field has shape {sigma.shape}, the mesh has {grid.voxels} voxels")
    return np.ascontiguousarray(sigma[grid.element_slices()], dtype=np.float64)


def assemble(grid: VoxelGrid, sigma: np.ndarray, fixed: np.ndarray, source: np.ndarray | None = None):
    """(A, b): matrix and right-hand side on ``grid.comm``.

    ``sigma``: element coefficients, replicated (shape ``grid.voxels``);
    ``fixed``: Dirichlet values (NaN where free) on the ghosted node box;
    ``source``: nodal values of f on the ghosted node box, or None.
    The caller destroys A and b.
    """
    from .._ext.fem_q1 import q1_rows

    with log_event("assemble"):
        spacing = grid.spacing
        src = np.zeros((0, 0, 0)) if source is None else np.ascontiguousarray(source, dtype=np.float64)
        indptr, cols, vals, rhs = q1_rows(
            ghosted_elements(grid, sigma), grid.global_numbers(), np.ascontiguousarray(fixed, dtype=np.float64),
            src, q1.stiffness(spacing), q1.mass(spacing), grid.owned_in_ghost, grid.owned_shape)
        A, b = petsc_system(grid, indptr, cols, vals, rhs)
    return A, b


def petsc_system(grid: VoxelGrid, indptr, cols, vals, rhs):
    """MPIAIJ matrix and Vec from this rank's CSR rows (global, ascending columns) without re-inserting entries.

    The rows are split into the diagonal block (local columns) and the off-diagonal
    block (global columns) that PETSc's no-copy constructor takes; the matrix keeps
    references to the arrays.
    """
    from petsc4py import PETSc

    n_local, n_global = rhs.size, int(np.prod(grid.nodes))
    sizes = ((n_local, n_global), (n_local, n_global))
    if grid.comm.size == 1:
        A = PETSc.Mat().createAIJWithArrays(sizes, (indptr, cols, vals), comm=grid.comm)
    else:
        rstart = grid.comm.exscan(n_local) or 0
        local = (cols >= rstart) & (cols < rstart + n_local)
        row_of = np.repeat(np.arange(n_local, dtype=np.int32), np.diff(indptr))
        d_ptr = np.zeros(n_local + 1, dtype=np.int32)
        np.cumsum(np.bincount(row_of[local], minlength=n_local), out=d_ptr[1:])
        o_ptr = (indptr - d_ptr).astype(np.int32)
        diag = (d_ptr, (cols[local] - rstart).astype(np.int32), vals[local])
        off = (o_ptr, cols[~local], vals[~local])
        A = PETSc.Mat().createAIJWithArrays(sizes, (diag, off), comm=grid.comm)
    A.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    A.assemble()
    b = grid.create_vec()
    b.getArray()[:] = rhs
    return A, b


def assemble_fv(grid: VoxelGrid, sigma: np.ndarray, axis: int, u_in: float = 1.0, u_out: float = 0.0):
    """(A, b) of the two-point-flux finite-volume scheme (``grid`` cell-centred), Dirichlet along ``axis``."""
    from .._ext.fem_fv import fv_rows

    if not grid.cell_centred:
        raise ValueError("assemble_fv needs a cell-centred grid")
    with log_event("assemble"):
        indptr, cols, vals, rhs = fv_rows(
            ghosted_elements(grid, sigma), grid.global_numbers(), grid.owned_in_ghost, grid.owned_shape,
            [g.start for g in grid.ghost], grid.voxels, grid.spacing, axis, u_in, u_out)
        A, b = petsc_system(grid, indptr, cols, vals, rhs)
    return A, b
