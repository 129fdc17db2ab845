"""The distributed grid of a voxel mesh: a PETSc DMDA with one point per voxel corner
(Q1 nodes) or, ``cell_centred=True``, one per voxel (finite volumes).

Array axes (0, 1, 2) of the voxel image are the DMDA's (z, y, x), so a node
array in C order ``(n0 + 1, n1 + 1, n2 + 1)`` is exactly how the DMDA stores
it. Every rank keeps the voxel image (it is small next to the matrix) and
slices out the elements of its ghosted node box.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..parallel import all_ok


class VoxelGrid:
    """Points of an ``(n0, n1, n2)``-voxel box on ``comm``; ``spacing`` is the voxel size per axis.

    ``nodes`` is the point grid's shape: voxels + 1 (corners) or voxels (cell centres).
    """

    def __init__(self, comm, voxels: tuple[int, int, int], spacing=(1.0, 1.0, 1.0), cell_centred: bool = False):
        from petsc4py import PETSc

        self.comm = comm
        self.voxels = tuple(int(n) for n in voxels)
        self.spacing = tuple(float(h) for h in spacing)
        if len(self.voxels) != 3 or min(self.voxels) < 1:
            raise InputError(f"voxel mesh: need three positive sizes, got {voxels}", collective=True)
        if len(self.spacing) != 3 or not all(np.isfinite(self.spacing)) or min(self.spacing) <= 0:
            raise InputError(f"voxel mesh: spacing must be three positive numbers, got {spacing}", collective=True)
        self.cell_centred = cell_centred
        self.nodes = tuple(n + (0 if cell_centred else 1) for n in self.voxels)
        # Each rank must own at least two node layers along every axis it is cut on,
        # else its elements would all belong to neighbours' ghost layers.
        if int(np.prod(self.nodes)) < 8 * comm.size:
            raise InputError(
                f"voxel mesh of {self.voxels[0]}x{self.voxels[1]}x{self.voxels[2]} voxels is too small for "
                f"{comm.size} ranks (each rank needs at least 2x2x2 grid points); use fewer ranks", collective=True)
        try:
            self.da = PETSc.DMDA().create(
                dim=3, dof=1, sizes=self.nodes[::-1], stencil_width=1,
                stencil_type=PETSc.DMDA.StencilType.BOX, comm=comm)
        except PETSc.Error as exc:
            raise InputError(
                f"voxel mesh of {self.voxels} voxels cannot be split over {comm.size} ranks ({exc})",
                collective=True) from None
        ranges = self.da.getRanges()[::-1]  # per axis 0, 1, 2
        self.owned = tuple(slice(lo, hi) for lo, hi in ranges)
        (gx, gy, gz), (gmx, gmy, gmz) = self.da.getGhostCorners()
        self.ghost = (slice(gz, gz + gmz), slice(gy, gy + gmy), slice(gx, gx + gmx))
        self.ghost_shape = (gmz, gmy, gmx)
        self.owned_in_ghost = tuple(o.start - g.start for o, g in zip(self.owned, self.ghost))
        self.owned_shape = tuple(o.stop - o.start for o in self.owned)
        all_ok(comm, min(self.owned_shape) >= 2,
               f"voxel mesh of {self.voxels} voxels is too small for {comm.size} ranks: "
               f"this rank owns {self.owned_shape} grid points (needs 2 per axis); use fewer ranks")

    # ------------------------------------------------------------------ index maps
    def global_numbers(self) -> np.ndarray:
        """PETSc global number of every ghosted node, shape ``ghost_shape`` (int32)."""
        lgmap = self.da.getLGMap()
        return np.ascontiguousarray(lgmap.getIndices().reshape(self.ghost_shape), dtype=np.int32)

    def element_slices(self) -> tuple[slice, ...]:
        """Voxels this rank needs: all cells of the ghosted box, or the elements whose 8 nodes lie in it."""
        if self.cell_centred:
            return self.ghost
        return tuple(slice(g.start, g.stop - 1) for g in self.ghost)

    def owned_elements(self) -> tuple[slice, ...]:
        """Elements this rank owns (their lower corner node is owned), as global slices."""
        return tuple(slice(o.start, min(o.stop, n)) for o, n in zip(self.owned, self.voxels))

    def node_coordinates(self, which: str = "ghost") -> tuple[np.ndarray, ...]:
        """Broadcastable coordinate arrays of the ghosted (or owned) nodes, one per axis."""
        box = self.ghost if which == "ghost" else self.owned
        coords = []
        for axis, s in enumerate(box):
            shape = [1, 1, 1]
            shape[axis] = s.stop - s.start
            coords.append((np.arange(s.start, s.stop) * self.spacing[axis]).reshape(shape))
        return tuple(coords)

    # ------------------------------------------------------------------- vectors
    def create_vec(self):
        return self.da.createGlobalVec()

    def ghosted_array(self, vec) -> np.ndarray:
        """A copy of ``vec`` on this rank's ghosted node box (C order, axes 0, 1, 2)."""
        local = self.da.createLocalVec()
        try:
            self.da.globalToLocal(vec, local)
            return local.getArray(readonly=True).reshape(self.ghost_shape).copy()
        finally:
            local.destroy()

    def owned_array(self, vec, readonly: bool = True) -> np.ndarray:
        """This rank's part of a global vector as an array of shape ``owned_shape`` (a view)."""
        return vec.getArray(readonly=readonly).reshape(self.owned_shape)

    def gather(self, vec, root: int = 0) -> np.ndarray | None:
        """The whole node field on ``root`` (for tests and small outputs), None elsewhere."""
        blocks = self.comm.gather((self.owned, self.owned_array(vec).copy()), root=root)
        if self.comm.rank != root:
            return None
        out = np.empty(self.nodes)
        for box, values in blocks:
            out[box] = values
        return out

    def destroy(self) -> None:
        self.da.destroy()
