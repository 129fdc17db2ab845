"""CSR neighbour lists for the NNP core, with the geometry checks that guard it.

Refused (InputError): a cell with (near) zero volume, and two atoms closer than
``min_distance`` (default 1.0 Å: Li–Li is 2.7 Å in the dimer and 3.0 Å in bcc; the
training data never go below about 2.2 Å, so such a geometry is an input mistake,
not physics the model knows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

MIN_DISTANCE = 1.0  # Å


@dataclass
class NeighborCSR:
    offsets: np.ndarray  # (N+1,) int64
    neigh: np.ndarray  # (nnz,) int32
    vec: np.ndarray  # (nnz, 3) r_j - r_i

    def rotated(self, start: int, stop: int, natoms: int):
        """The CSR for centres start..stop-1, with atom indices rotated so that `start` is 0.

        The C core computes the first `nlocal` atoms of its array; rotating puts a rank's block
        of centres first while every atom keeps a slot for the forces on it.
        """
        lo, hi = self.offsets[start], self.offsets[stop]
        offsets = self.offsets[start : stop + 1] - lo
        neigh = ((self.neigh[lo:hi].astype(np.int64) - start) % natoms).astype(np.int32)
        return offsets, neigh, np.ascontiguousarray(self.vec[lo:hi])


def check_cell(cell, where: str = "structure") -> np.ndarray:
    cell = np.ascontiguousarray(cell, dtype=float)
    if cell.shape != (3, 3) or not np.all(np.isfinite(cell)):
        raise InputError(f"{where}: the cell must be a finite 3x3 matrix")
    volume = abs(np.linalg.det(cell))
    scale = np.prod(np.linalg.norm(cell, axis=1))
    if volume <= 1e-9 * max(scale, 1e-300):
        raise InputError(
            f"{where}: the cell has zero volume (|det| = {volume:.3g} Å^3); give non-periodic systems a box with vacuum"
        )
    return cell


def build_csr(
    positions, cell, pbc, cutoff: float, min_distance: float = MIN_DISTANCE, where: str = "structure"
) -> NeighborCSR:
    from .._ext.neighbors import neighbor_list

    positions = np.ascontiguousarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3 or not np.all(np.isfinite(positions)):
        raise InputError(f"{where}: positions must be a finite N x 3 array")
    cell = check_cell(cell, where)
    i, j, _shift, vec = neighbor_list(positions, cell, float(cutoff), tuple(bool(p) for p in pbc))
    dist2 = np.einsum("ij,ij->i", vec, vec)
    if len(dist2) and dist2.min() < min_distance**2:
        k = int(np.argmin(dist2))
        raise InputError(
            f"{where}: atoms {i[k]} and {j[k]} are {np.sqrt(dist2[k]):.3f} Å apart, closer than "
            f"the physical minimum {min_distance} Å that the force field accepts"
        )
    order = np.argsort(i, kind="stable")
    offsets = np.zeros(len(positions) + 1, dtype=np.int64)
    np.cumsum(np.bincount(i, minlength=len(positions)), out=offsets[1:])
    return NeighborCSR(offsets, np.ascontiguousarray(j[order], dtype=np.int32), np.ascontiguousarray(vec[order]))
