"""Fixed Jacobian sparsity from a model's coupling table, as a local CSR that PETSc maps to global rows.

A model declares ``coupling[r][c]``: how field r's residual depends on field c
at neighbouring cells: ``NONE``, ``POINT`` (same cell only), ``STAR`` (face
neighbours) or ``BOX`` (face, edge and corner neighbours). From it this module
lays out, once, every owned row's column list. Kernels write Jacobian values
straight into the CSR value array through ``slot[r, offset, c]`` (the entry's
position inside row r of its cell) and ``row_start`` (where each owned row
begins), so no Python runs per cell. Columns of boundary ghosts are folded onto
their mirror cell (see :meth:`Grid.ghost_targets`) with a per-entry factor.

Offsets are numbered ``((dz+1)*3 + (dy+1))*3 + (dx+1)`` (0..26) in 2D and 3D.
"""
from __future__ import annotations

import numpy as np

from ..petsc_coo import COO_ATTR, preallocate_local, set_values

NONE, POINT, STAR, BOX = 0, 1, 2, 3


def offset_index(dz: int, dy: int, dx: int) -> int:
    return ((dz + 1) * 3 + (dy + 1)) * 3 + (dx + 1)


def _offsets(kind: int, dim: int):
    for dz in ((-1, 0, 1) if dim == 3 else (0,)):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                nonzero = abs(dz) + abs(dy) + abs(dx)
                if kind == BOX or (kind == STAR and nonzero <= 1) or (kind == POINT and nonzero == 0):
                    yield dz, dy, dx


class Sparsity:
    """CSR layout (local ghosted numbering) of one grid + coupling table."""

    def __init__(self, grid, coupling):
        dof = grid.dof
        coupling = np.asarray(coupling, dtype=int)
        if coupling.shape != (dof, dof):
            raise ValueError(f"coupling table must be {dof}x{dof}, got {coupling.shape}")
        # per row field: the ordered (offset, column field) entries and their slots
        self.slot = np.full((dof, 27, dof), -1, dtype=np.int64)
        entries = []
        for r in range(dof):
            row = [(o, c) for c in range(dof) for o in _offsets(coupling[r, c], grid.dim)]
            for pos, ((dz, dy, dx), c) in enumerate(row):
                self.slot[r, offset_index(dz, dy, dx), c] = pos
            entries.append(row)
        row_len = np.array([len(e) for e in entries], dtype=np.int64)
        per_cell = int(row_len.sum())

        gz, gy, gx = grid.ghost_size
        oz, oy, ox = grid.offset
        nz, ny, nx = grid.own_size
        kk, jj, ii = np.meshgrid(np.arange(nz) + oz, np.arange(ny) + oy, np.arange(nx) + ox, indexing="ij")
        cell = ((kk * gy + jj) * gx + ii).ravel()  # ghosted linear index of each owned cell, C order

        n_rows = gz * gy * gx * dof
        lengths = np.zeros(n_rows, dtype=np.int64)
        for r in range(dof):
            lengths[cell * dof + r] = row_len[r]
        self.indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.indptr[1:])
        self.row_start = np.ascontiguousarray(
            self.indptr[:-1].reshape(gz * gy * gx, dof)[cell].reshape(nz, ny, nx, dof))

        target, factor = grid.ghost_targets()
        target = target.ravel()
        factor = factor.reshape(-1, dof)
        nnz = int(self.indptr[-1])
        self.columns = np.empty(nnz, dtype=np.int64)
        self.factor = np.empty(nnz)
        base = self.row_start.reshape(-1, dof)
        for r in range(dof):
            for pos, ((dz, dy, dx), c) in enumerate(entries[r]):
                nb = cell + (dz * gy + dy) * gx + dx
                self.columns[base[:, r] + pos] = target[nb] * dof + c
                self.factor[base[:, r] + pos] = factor[nb, c]
        self.nnz = nnz
        self.per_cell = per_cell
        self.values = np.zeros(nnz)
        self._csr = None  # indptr, columns in PETSc's integer type, made when a matrix needs setValuesLocalCSR

    def create_matrix(self, grid):
        """An AIJ matrix holding exactly this pattern (COO-assembled), with the grid's local-to-global map.

        The DMDA's own matrix gives every field the full box stencil of every other
        field (81 entries per row in 3D where the Li model needs about 21), and its
        explicit zeros are carried through every product, ILU and AMG setup: four
        times the memory and much of the work in 3D.
        """
        from petsc4py import PETSc

        n_owned = grid.n_owned * grid.dof
        n_global = int(np.prod(grid.cells)) * grid.dof
        mat = PETSc.Mat().create(comm=grid.comm)
        mat.setSizes(((n_owned, n_global), (n_owned, n_global)), bsize=grid.dof)
        mat.setType(PETSc.Mat.Type.AIJ)
        lgmap = grid.da.getLGMap()
        mat.setLGMap(lgmap, lgmap)
        # boundary columns folded onto the same mirror cell repeat an entry; COO sums repeats
        preallocate_local(mat, np.repeat(np.arange(self.indptr.size - 1), np.diff(self.indptr)), self.columns)
        return mat

    def set_jacobian(self, mat) -> None:
        """Write :attr:`values` (times the ghost-folding factors) into ``mat`` and assemble it.

        ``mat`` is either from :meth:`create_matrix` or a matrix with room for this pattern (the DMDA's).
        """
        from petsc4py import PETSc

        np.multiply(self.values, self.factor, out=self.values)
        if mat.getAttr(COO_ATTR) is not None:
            set_values(mat, self.values)
            return
        if self._csr is None:
            self._csr = self.indptr.astype(PETSc.IntType), self.columns.astype(PETSc.IntType)
        mat.zeroEntries()
        mat.setValuesLocalCSR(*self._csr, self.values, PETSc.InsertMode.ADD_VALUES)
        mat.assemble()
