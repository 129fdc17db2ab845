"""Cell-centred structured grid on a PETSc DMDA, with boundary conditions applied through ghost cells.

Every field lives at cell centres. Periodic axes use the DMDA's periodic
ghosts. On a non-periodic axis the DMDA keeps one layer of ghost cells outside
the domain (boundary type GHOSTED); :meth:`Grid.fill_boundary_ghosts` sets them
by mirroring the first interior cell:

* zero flux (Neumann):  ghost = interior
* fixed value g on the face (Dirichlet):  ghost = 2 g - interior

so the kernels see a complete stencil everywhere and know nothing about
boundaries. The Jacobian follows the same rule: a ghost column is folded onto
its mirror cell with factor +1 or -1 (:meth:`Grid.ghost_targets`).

Array layout: the ghosted local array is ``(gz, gy, gx, dof)`` in C order (x
fastest, as PETSc stores it); a 2D grid has ``gz = 1``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io.fields import Block

AXES = "xyz"


@dataclass(frozen=True)
class FaceCondition:
    """Per-field condition on one domain face: ``None`` means zero flux, a number a fixed face value."""

    values: tuple[float | None, ...]


def parse_face(name: str) -> tuple[int, int]:
    """'x-' -> (axis 0, lower side 0); 'y+' -> (1, 1)."""
    if len(name) != 2 or name[0] not in AXES or name[1] not in "+-":
        raise InputError(f"boundary face {name!r}: expected one of x-, x+, y-, y+, z-, z+")
    return AXES.index(name[0]), 0 if name[1] == "-" else 1


class Grid:
    """A DMDA of ``cells`` (x first) cells of size ``spacing`` with ``dof`` fields per cell.

    ``periodic[a]`` makes axis a periodic; ``faces`` maps 'x-', 'x+', ... to a
    :class:`FaceCondition` (missing faces are zero flux for every field).
    """

    def __init__(self, comm, cells, spacing, dof: int, *, periodic=None, faces=None, stencil: str = "box",
                 field_names=None, processors=None):
        from petsc4py import PETSc

        self.comm = comm
        self.dim = len(cells)
        if self.dim not in (2, 3):
            raise InputError(f"grid: cells must have 2 or 3 entries, got {list(cells)}")
        self.cells = tuple(int(n) for n in cells)
        self.spacing = tuple(float(h) for h in spacing)
        if len(self.spacing) != self.dim:
            raise InputError(f"grid: spacing {list(spacing)} does not match cells {list(cells)}")
        self.dof = dof
        self.periodic = tuple(bool(p) for p in (periodic or (False,) * self.dim))
        self.faces = {parse_face(k): v for k, v in (faces or {}).items()}
        for (axis, _), cond in self.faces.items():
            if axis >= self.dim:
                raise InputError(f"grid: boundary on axis {AXES[axis]} of a {self.dim}D grid")
            if self.periodic[axis]:
                raise InputError(f"grid: axis {AXES[axis]} is periodic and cannot have a boundary condition")
            if len(cond.values) != dof:
                raise InputError(f"grid: face condition {cond.values} needs one entry per field ({dof})")
        bt = PETSc.DM.BoundaryType
        st = PETSc.DMDA.StencilType
        kwargs = {"proc_sizes": tuple(processors)} if processors else {}
        self.da = PETSc.DMDA().create(
            dim=self.dim, dof=dof, sizes=self.cells, stencil_width=1,
            boundary_type=tuple(bt.PERIODIC if p else bt.GHOSTED for p in self.periodic),
            stencil_type=st.BOX if stencil == "box" else st.STAR, comm=comm, setup=False, **kwargs)
        try:
            self.da.setUp()
        except PETSc.Error:
            self.da.destroy()
            raise InputError(f"grid: {list(self.cells)} cells cannot be split over {comm.size} ranks"
                             + (f" as {list(processors)}" if processors else "")
                             + " (each rank needs at least 2 cells along every split axis)",
                             collective=True) from None
        for i, name in enumerate(field_names or []):
            self.da.setFieldName(i, name)
        corners = self.da.getCorners()
        ghosts = self.da.getGhostCorners()
        # x-first tuples from PETSc, padded to 3 and reversed into array (z, y, x) order
        self.own_start = _zyx(corners[0], 0)
        self.own_size = _zyx(corners[1], 1)
        self.ghost_start = _zyx(ghosts[0], 0)
        self.ghost_size = _zyx(ghosts[1], 1)
        self.offset = tuple(o - g for o, g in zip(self.own_start, self.ghost_start))
        self.local = self.da.createLocalVec()

    # ------------------------------------------------------------------ layout

    @property
    def owned(self) -> tuple[slice, ...]:
        """Slices of the owned cells inside the ghosted local array (z, y, x)."""
        return tuple(slice(o, o + n) for o, n in zip(self.offset, self.own_size))

    @property
    def n_owned(self) -> int:
        return int(np.prod(self.own_size))

    def block(self) -> Block:
        """This rank's box for io.fields (array axis order, spacing and origin in physical units)."""
        d = self.dim
        return Block(tuple(reversed(self.cells)), self.own_start[3 - d:], self.own_size[3 - d:],
                     spacing=tuple(reversed(self.spacing)), origin=(0.0,) * d)

    def owned_view(self, vec, readonly: bool = False) -> np.ndarray:
        """A global Vec's array as ``(nz, ny, nx, dof)`` (a view: writes go into the Vec).

        ``readonly`` leaves the Vec's state counter alone (PETSc takes a changed counter for a changed Vec) and is
        required for the Vecs PETSc hands to callbacks as inputs: newer PETSc (3.22) locks them against writing."""
        return vec.getArray(readonly=readonly).reshape(self.own_size + (self.dof,))

    def ghosted(self, vec) -> np.ndarray:
        """Scatter a global Vec into the local Vec, fill boundary ghosts, return ``(gz, gy, gx, dof)``."""
        self.da.globalToLocal(vec, self.local)
        arr = self.local.getArray().reshape(self.ghost_size + (self.dof,))
        self.fill_boundary_ghosts(arr)
        return arr

    def centres(self) -> list[np.ndarray]:
        """Cell-centre coordinates of the owned cells along x, y (, z), each broadcastable to (nz, ny, nx)."""
        out = []
        for a in range(self.dim):
            ax = 2 - a
            idx = np.arange(self.own_start[ax], self.own_start[ax] + self.own_size[ax])
            shape = [1, 1, 1]
            shape[ax] = -1
            out.append(((idx + 0.5) * self.spacing[a]).reshape(shape))
        return out

    # --------------------------------------------------------------- boundaries

    def _boundary_sides(self):
        """(array axis, ghost index, mirror index, condition) for each physical face this rank touches."""
        for (axis, side), cond in sorted(self.faces.items()):
            yield from self._side(axis, side, cond)
        for axis in range(self.dim):
            for side in (0, 1):
                if not self.periodic[axis] and (axis, side) not in self.faces:
                    yield from self._side(axis, side, FaceCondition((None,) * self.dof))

    def _side(self, axis, side, cond):
        ax = 2 - axis
        if side == 0 and self.ghost_start[ax] < 0:
            yield ax, 0, 1, cond
        elif side == 1 and self.ghost_start[ax] + self.ghost_size[ax] > self.cells[axis]:
            yield ax, self.ghost_size[ax] - 1, self.ghost_size[ax] - 2, cond

    def _ordered_sides(self):
        # axis by axis (x, then y, then z) so that edge and corner ghosts mirror already-filled ghosts
        return sorted(self._boundary_sides(), key=lambda s: -s[0])

    def fill_boundary_ghosts(self, arr: np.ndarray) -> None:
        for ax, g, m, cond in self._ordered_sides():
            sign, shift = _mirror_rule(cond)
            ghost = [slice(None)] * 3
            mirror = [slice(None)] * 3
            ghost[ax], mirror[ax] = g, m
            arr[tuple(ghost)] = arr[tuple(mirror)] * sign + shift

    def ghost_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """For every ghosted cell: the local cell its value comes from, and the factor per field."""
        target = np.arange(int(np.prod(self.ghost_size))).reshape(self.ghost_size)
        factor = np.ones(self.ghost_size + (self.dof,))
        for ax, g, m, cond in self._ordered_sides():
            sign, _ = _mirror_rule(cond)
            ghost = [slice(None)] * 3
            mirror = [slice(None)] * 3
            ghost[ax], mirror[ax] = g, m
            target[tuple(ghost)] = target[tuple(mirror)]
            factor[tuple(ghost)] = factor[tuple(mirror)] * sign
        return target, factor

    def destroy(self) -> None:
        self.local.destroy()
        self.da.destroy()


def _mirror_rule(cond: FaceCondition) -> tuple[np.ndarray, np.ndarray]:
    sign = np.array([1.0 if v is None else -1.0 for v in cond.values])
    shift = np.array([0.0 if v is None else 2.0 * v for v in cond.values])
    return sign, shift


def _zyx(xyz, pad: int) -> tuple[int, int, int]:
    """PETSc's x-first tuple as (z, y, x); a 2D grid gets ``pad`` for z."""
    return tuple(reversed(list(xyz) + [pad] * (3 - len(xyz))))
