"""Observables of a Li deposit: tip height, deposited Li, current, morphology (collective reductions).

All inputs are nondimensional (µm, RT/(nF)); results are converted to SI by
the caller where noted. The electrode is the x = 0 face; the deposit grows
along +x.
"""
from __future__ import annotations

import numpy as np

from .li_deposition import PHI, XI, _h
from .li_params import L0, LiPhysical


def electrode_area(grid) -> float:
    """Area of the x = 0 face in µm^(dim-1)."""
    return float(np.prod(grid.spacing[1:]) * np.prod(grid.cells[1:]))


def tip_position(grid, xi: np.ndarray, comm) -> float:
    """Largest x (µm) where ξ crosses ½, interpolated between cell centres (0 if no metal)."""
    x = grid.centres()[0].ravel()
    above = xi >= 0.5
    best = 0.0
    if above.any():
        # last cell along x with ξ ≥ ½ in each column, then linear interpolation to the next cell
        idx = np.where(above.any(axis=2), above.shape[2] - 1 - np.argmax(above[..., ::-1], axis=2), -1)
        for pos in np.unique(idx[idx >= 0]):
            cols = idx == pos
            here = xi[..., pos][cols]
            if pos + 1 < xi.shape[2]:
                nxt = xi[..., pos + 1][cols]
                frac = np.clip((here - 0.5) / np.maximum(here - nxt, 1e-300), 0.0, 1.0)
                best = max(best, float(x[pos] + frac.max() * grid.spacing[0]))
            else:
                best = max(best, float(x[pos]))
    return comm.allreduce(best, op=_max())


def _max():
    from mpi4py import MPI

    return MPI.MAX


def metal_volume(grid, xi: np.ndarray, comm) -> float:
    """∫ξ dV in µm^dim."""
    return comm.allreduce(float(xi.sum()) * float(np.prod(grid.spacing)))


def face_inflow(grid, u_ghost: np.ndarray, prm: np.ndarray, comm, side: int) -> tuple[float, float]:
    """(ion inflow, current inflow) through the x- (side 0) or x+ (side 1) face, nondimensional.

    Ion flux D (∂c/∂x + c ∂φ/∂x) (Scharfetter–Gummel, as the kernel) and current σ ∂φ/∂x, both counted positive
    into the domain, with the face values the residual kernel uses; so at a
    converged step d/dt Σ(c + (c_s/c0) ξ)V = ion inflow (Li conservation) and
    P d/dt Σ ξ V = (current inflow at x-) + (current inflow at x+) (Faraday).
    """
    from .li_deposition import D_L, D_S, SIG_S, C, bernoulli, electrolyte_conductivity

    ax = 2
    touches = grid.ghost_start[ax] < 0 if side == 0 else grid.ghost_start[ax] + grid.ghost_size[ax] > grid.cells[0]
    ion = cur = 0.0
    if touches:
        g = u_ghost[..., 0 if side == 0 else -1, :]
        c = u_ghost[..., 1 if side == 0 else -2, :]
        hg, hc = _h(g[..., XI]), _h(c[..., XI])
        dface = 0.5 * (prm[D_S] * (hg + hc) + prm[D_L] * (2.0 - hg - hc))
        sface = 0.5 * (prm[SIG_S] * (hg + hc) + electrolyte_conductivity(g[..., C], prm) * (1.0 - hg)
                       + electrolyte_conductivity(c[..., C], prm) * (1.0 - hc))
        dphi = (g[..., PHI] - c[..., PHI]) / grid.spacing[0]  # ghost minus interior: inward for either side
        inner = tuple(slice(o, o + n) for o, n in zip(grid.offset[:2], grid.own_size[:2]))
        face = float(np.prod(grid.spacing[1:]))
        jump = g[..., PHI] - c[..., PHI]
        sg = np.vectorize(bernoulli)
        inflow = (sg(-jump) * g[..., C] - sg(jump) * c[..., C]) / grid.spacing[0]
        ion = float((dface * inflow)[inner].sum()) * face
        cur = float((sface * dphi)[inner].sum()) * face
    return comm.allreduce(ion), comm.allreduce(cur)


def interface_area(grid, u_ghost: np.ndarray, comm) -> float:
    """∫|∇ξ| dV (µm^(dim-1)): the area of a diffuse interface, central differences."""
    grads = []
    for ax in range(3 - grid.dim, 3):
        up = list(grid.owned)
        dn = list(grid.owned)
        up[ax] = slice(up[ax].start + 1, up[ax].stop + 1)
        dn[ax] = slice(dn[ax].start - 1, dn[ax].stop - 1)
        grads.append((u_ghost[tuple(up) + (XI,)] - u_ghost[tuple(dn) + (XI,)]) / (2.0 * grid.spacing[2 - ax]))
    norm = np.sqrt(sum(g ** 2 for g in grads))
    return comm.allreduce(float(norm.sum()) * float(np.prod(grid.spacing)))


def deposit_summary(grid, u_ghost, comm, front: float, phys: LiPhysical) -> dict:
    """The four dendrite.h5 parameters in SI: (value, units, description)."""
    xi = u_ghost[grid.owned + (XI,)]
    area = electrode_area(grid)
    tip = tip_position(grid, xi, comm)
    x = grid.centres()[0]
    in_band = (x >= front) & (x <= max(tip, front))
    band_metal = comm.allreduce(float((xi * in_band).sum()) * float(np.prod(grid.spacing)))
    height = max(tip - front, 0.0)
    utilisation = band_metal / (area * height) if height > 0 else 1.0
    thickness = metal_volume(grid, xi, comm) / area - front
    return {
        "max_dendrite_height": (height * L0, "m", "largest x of the ξ = ½ contour minus the initial front"),
        "mean_deposit_thickness": (thickness * L0, "m", "(metal volume)/(electrode area) minus the initial front"),
        "space_utilisation": (utilisation, "1", "metal fraction of the layer between the initial front and the tip"),
        "interface_area_ratio": (interface_area(grid, u_ghost, comm) / area, "1",
                                 "∫|∇ξ| dV per electrode area (diffuse-interface area estimate)"),
    }
