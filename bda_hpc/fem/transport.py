"""Effective conductivity and tortuosity factor of a voxel image (REFERENCES.md section 5).

Solve div(sigma grad u) = 0 with u = 1 on the face ``axis = 0`` and u = 0 on
the opposite face, zero flux elsewhere; sigma_eff = I L / (A du).

Two discretisations of the same voxel geometry:
``q1``: trilinear finite elements, one node per voxel corner; the current is
the sum of the reactions of the inlet nodes. Voxels that share only an edge or
a corner are coupled through their common nodes, so on coarse images Q1 sees
slightly more connected paths than the voxels' faces allow.
``fv``: cell-centred two-point fluxes through voxel faces (the scheme of
taufactor and porespy); converges to the same continuum value.

Voxels in clusters that do not touch both faces carry no current and would
leave the matrix singular, so they are dropped first (26-connected clusters
for Q1, face-connected for FV). With no percolating cluster the tortuosity is
infinite and nothing is solved.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..io.fields import Block
from . import q1
from .assembly import assemble, assemble_fv, ghosted_elements, log_event
from .grid import VoxelGrid
from .solver import LinearSolver

LOG = logging.getLogger("bda_hpc.fem")
AXIS_NAMES = "xyz"
SCHEMES = ("q1", "fv")
CONNECTIVITY = {"q1": 26, "fv": 6}


def percolating(mask: np.ndarray, axis: int, connectivity: int = 26) -> np.ndarray:
    """Voxels of ``mask`` in clusters that touch both faces normal to ``axis``."""
    structure = ndimage.generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[connectivity])
    labels, _ = ndimage.label(mask, structure=structure)
    first = np.unique(np.take(labels, 0, axis=axis))
    last = np.unique(np.take(labels, -1, axis=axis))
    through = np.intersect1d(first, last)
    through = through[through > 0]
    return np.isin(labels, through)


@dataclass
class TransportResult:
    """Outcome of one directional solve. ``sigma_eff`` is in the units of the input conductivities."""

    axis: int
    sigma_eff: float
    current_in: float
    current_out: float
    iterations: int
    assemble_s: float
    solve_s: float
    percolates: bool
    solution: np.ndarray | None = None  # this rank's part of u, with ``block`` (keep_solution=True)
    block: Block | None = None

    @property
    def conservation_error(self) -> float:
        """|I_in + I_out| / |I_in| (the outlet current is negative in the reaction convention)."""
        return abs(self.current_in + self.current_out) / abs(self.current_in) if self.current_in else 0.0


def _face_current(grid: VoxelGrid, sigma_g: np.ndarray, u_g: np.ndarray, axis: int, side: int) -> float:
    """Sum over this rank's elements of the reactions at the nodes of one face (side 0: inlet)."""
    n = grid.voxels[axis]
    ke = q1.stiffness(grid.spacing)
    owned = list(grid.owned_elements())
    layer = 0 if side == 0 else n - 1
    if not owned[axis].start <= layer < owned[axis].stop:
        return 0.0
    owned[axis] = slice(layer, layer + 1)
    origin = [g.start for g in grid.ghost]
    local = [slice(s.start - o, s.stop - o) for s, o in zip(owned, origin)]
    sig = sigma_g[tuple(local)]
    if sig.size == 0:
        return 0.0
    corners = q1.corners()
    u_e = np.stack([u_g[tuple(slice(s.start + c[d], s.stop + c[d]) for d, s in enumerate(local))]
                    for c in corners], axis=-1)
    on_face = corners[:, axis] == side
    reactions = np.einsum("...b,ab->...a", u_e, ke[on_face])
    return float(np.sum(sig[..., None] * reactions))


def _face_current_fv(grid: VoxelGrid, sigma_g: np.ndarray, u_g: np.ndarray, axis: int, side: int) -> float:
    """Current into the domain through one Dirichlet face (u = 1 - side there), this rank's cells."""
    n = grid.voxels[axis]
    layer = 0 if side == 0 else n - 1
    if not grid.owned[axis].start <= layer < grid.owned[axis].stop:
        return 0.0
    local = [slice(o.start - g.start, o.stop - g.start) for o, g in zip(grid.owned, grid.ghost)]
    local[axis] = slice(layer - grid.ghost[axis].start, layer - grid.ghost[axis].start + 1)
    h = grid.spacing
    conductance = 2.0 * float(np.prod(h)) / h[axis] ** 2
    return float(np.sum(conductance * sigma_g[tuple(local)] * ((1.0 - side) - u_g[tuple(local)])))


def _dirichlet_nodes(grid: VoxelGrid, axis: int) -> np.ndarray:
    """u = 1 on the first face and 0 on the last face normal to ``axis`` (NaN = free), ghosted box."""
    index = np.arange(grid.ghost[axis].start, grid.ghost[axis].stop)
    index = index.reshape([index.size if d == axis else 1 for d in range(3)])
    n = grid.voxels[axis]
    return np.broadcast_to(np.where(index == 0, 1.0, np.where(index == n, 0.0, np.nan)), grid.ghost_shape)


def effective_conductivity(comm, sigma: np.ndarray, axis: int, spacing=(1.0, 1.0, 1.0),
                           solver_options=None, scheme: str = "q1", keep_solution: bool = False) -> TransportResult:
    """Effective conductivity along ``axis`` of the replicated voxel field ``sigma`` (all ranks alike).

    ``keep_solution`` returns this rank's part of the potential (Q1 nodes or FV cells) and its block.
    """
    if scheme not in SCHEMES:
        raise InputError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}", collective=True)
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim != 3:
        raise InputError(f"conductivity field must be 3D, got shape {sigma.shape}", collective=True)
    if axis not in (0, 1, 2):
        raise InputError(f"direction must be 0, 1 or 2 (x, y, z), got {axis}", collective=True)
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
        raise InputError("conductivity field has negative or non-finite values", collective=True)
    through = percolating(sigma > 0, axis, CONNECTIVITY[scheme])
    if not through.any():
        return TransportResult(axis, 0.0, 0.0, 0.0, 0, 0.0, 0.0, False)
    sigma = np.where(through, sigma, 0.0)
    fv = scheme == "fv"
    # Assemble in units of the largest voxel edge: sigma_eff does not depend on the length unit, and
    # metre-sized entries (1e-7) would trip the solver's divergence test against the initial residual.
    physical = tuple(float(hd) for hd in spacing)
    grid = VoxelGrid(comm, sigma.shape, tuple(hd / max(physical) for hd in physical), cell_centred=fv)
    solver = LinearSolver(comm, solver_options)
    n = grid.voxels[axis]
    A = b = x = None
    try:
        t0 = time.perf_counter()
        A, b = assemble_fv(grid, sigma, axis) if fv else assemble(grid, sigma, _dirichlet_nodes(grid, axis))
        t1 = time.perf_counter()
        x = grid.create_vec()
        position = np.arange(grid.owned[axis].start, grid.owned[axis].stop) + (0.5 if fv else 0.0)
        grid.owned_array(x, readonly=False)[...] = (1.0 - position / n).reshape(
            [position.size if d == axis else 1 for d in range(3)])  # the linear profile as first guess
        info = solver.solve(A, b, x)
        t2 = time.perf_counter()
        with log_event("flux"):
            u_g = grid.ghosted_array(x)
            sigma_g = ghosted_elements(grid, sigma)
            face_current = _face_current_fv if fv else _face_current
            currents = comm.allreduce(np.array([face_current(grid, sigma_g, u_g, axis, side) for side in (0, 1)]))
        solution = grid.owned_array(x).copy() if keep_solution else None
    finally:
        for obj in (A, b, x):
            if obj is not None:
                obj.destroy()
        solver.destroy()
        grid.destroy()
    h = grid.spacing
    length = n * h[axis]
    area = float(np.prod([grid.voxels[d] * h[d] for d in range(3) if d != axis]))
    current = 0.5 * (currents[0] - currents[1])
    sigma_eff = current * length / area  # du = 1
    LOG.info("direction %s: sigma_eff %.6g, %d iterations, assemble %.2f s, solve %.2f s",
             AXIS_NAMES[axis], sigma_eff, info.iterations, t1 - t0, t2 - t1)
    block = Block(grid.nodes, tuple(o.start for o in grid.owned), grid.owned_shape, physical,
                  tuple(0.5 * hd if fv else 0.0 for hd in physical)) if keep_solution else None
    return TransportResult(axis, float(sigma_eff), float(currents[0]), float(currents[1]), info.iterations,
                           t1 - t0, t2 - t1, True, solution, block)


@dataclass
class Tortuosity:
    axis: int
    porosity: float           # volume fraction of the phase (all of it, as taufactor)
    tortuosity: float         # tau = eps * sigma / sigma_eff (inf without a percolating path)
    conductivity_ratio: float  # sigma_eff / sigma = eps / tau
    result: TransportResult


def tortuosity(comm, mask: np.ndarray, axis: int, spacing=(1.0, 1.0, 1.0), solver_options=None,
               scheme: str = "q1", keep_solution: bool = False) -> Tortuosity:
    """Tortuosity factor of the phase ``mask`` (True where conducting, unit conductivity) along ``axis``."""
    mask = np.asarray(mask, dtype=bool)
    eps = float(mask.mean())
    res = effective_conductivity(comm, mask.astype(np.float64), axis, spacing, solver_options, scheme, keep_solution)
    tau = eps / res.sigma_eff if res.sigma_eff > 0 else float("inf")
    return Tortuosity(axis, eps, tau, res.sigma_eff, res)
