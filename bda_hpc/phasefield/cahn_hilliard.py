"""PFHub benchmark 1: spinodal decomposition, Cahn–Hilliard in mixed form (REFERENCES §2).

Fields c and μ (so every stencil is one cell wide)::

    F_c = ċ - ∇·(M ∇μ)
    F_μ = μ - f'(c) + κ ∇²c,     f(c) = ρ (c - cα)² (cβ - c)²

Variant 'a' is periodic, 'b' has zero flux of c and μ on every face. The
discrete free energy Σ f(c) V + κ/2 Σ_faces (Δc/h)² V is the one whose
gradient the discrete μ equation is, so it must not increase.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .model import Model
from .sparsity import POINT, STAR
from .stencil import first_axis, laplacian, oidx, unit_step

# parameter vector layout
RHO, CA, CB, MOB, KAPPA = range(5)


@njit(cache=True)
def _fprime(c, p):
    return 2.0 * p[RHO] * (c - p[CA]) * (p[CB] - c) * (p[CA] + p[CB] - 2.0 * c)


@njit(cache=True)
def _fsecond(c, p):
    a, b = p[CA], p[CB]
    return 2.0 * p[RHO] * ((b - c) * (a + b - 2.0 * c) - (c - a) * (a + b - 2.0 * c) - 2.0 * (c - a) * (b - c))


@njit(cache=True)
def ch_residual(u, udot, F, p, h, off, dim):
    nz, ny, nx = F.shape[0], F.shape[1], F.shape[2]
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                gk, gj, gi = k + off[0], j + off[1], i + off[2]
                c = u[gk, gj, gi, 0]
                F[k, j, i, 0] = udot[k, j, i, 0] - p[MOB] * laplacian(u, 1, gk, gj, gi, h, dim)
                F[k, j, i, 1] = u[gk, gj, gi, 1] - _fprime(c, p) + p[KAPPA] * laplacian(u, 0, gk, gj, gi, h, dim)


@njit(cache=True)
def ch_jacobian(u, udot, shift, vals, row_start, slot, p, h, off, dim):
    nz, ny, nx = row_start.shape[0], row_start.shape[1], row_start.shape[2]
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                gk, gj, gi = k + off[0], j + off[1], i + off[2]
                rc = row_start[k, j, i, 0]
                rm = row_start[k, j, i, 1]
                vals[rc + slot[0, oidx(0, 0, 0), 0]] += shift
                vals[rm + slot[1, oidx(0, 0, 0), 1]] += 1.0
                vals[rm + slot[1, oidx(0, 0, 0), 0]] -= _fsecond(u[gk, gj, gi, 0], p)
                for ax in range(first_axis(dim), 3):
                    dz, dy, dx = unit_step(ax)
                    w = 1.0 / h[ax] ** 2
                    for s in (-1, 1):
                        vals[rc + slot[0, oidx(s * dz, s * dy, s * dx), 1]] -= p[MOB] * w
                        vals[rm + slot[1, oidx(s * dz, s * dy, s * dx), 0]] += p[KAPPA] * w
                    vals[rc + slot[0, oidx(0, 0, 0), 1]] += 2.0 * p[MOB] * w
                    vals[rm + slot[1, oidx(0, 0, 0), 0]] -= 2.0 * p[KAPPA] * w


class CahnHilliard(Model):
    """PFHub 1 (``variant`` 'a' periodic, 'b' zero flux) on ``cells`` × ``spacing`` (2D or 3D)."""

    name = "cahn_hilliard"
    fields = ("c", "mu")
    algebraic = (False, True)
    coupling = [[POINT, STAR], [STAR, POINT]]
    residual_kernel = staticmethod(ch_residual)
    jacobian_kernel = staticmethod(ch_jacobian)

    def __init__(self, variant: str = "a", dim: int = 2, rho: float = 5.0, c_alpha: float = 0.3,
                 c_beta: float = 0.7, mobility: float = 5.0, kappa: float = 2.0, epsilon: float = 0.01):
        if variant not in ("a", "b"):
            raise ValueError(f"PFHub 1 variant must be 'a' or 'b', got {variant!r}")
        self.variant = variant
        self.periodic = (variant == "a",) * dim
        self.prm = np.array([rho, c_alpha, c_beta, mobility, kappa], dtype=float)
        self.epsilon = epsilon

    def parameters(self) -> np.ndarray:
        return self.prm

    def describe(self) -> dict:
        return {**super().describe(), "variant": self.variant, "parameters": self.prm.tolist()}

    def initial_state(self, grid) -> np.ndarray:
        """The PFHub 1 cosine initial condition (cell centres), μ consistent with it."""
        x, y = grid.centres()[:2]
        e = self.epsilon
        c = 0.5 + e * (np.cos(0.105 * x) * np.cos(0.11 * y) + (np.cos(0.13 * x) * np.cos(0.087 * y)) ** 2
                       + np.cos(0.025 * x - 0.15 * y) * np.cos(0.07 * x - 0.02 * y))
        u = np.zeros(grid.own_size + (2,))
        u[..., 0] = np.broadcast_to(c, grid.own_size)
        return u

    def energy(self, grid, u: np.ndarray) -> float:
        p = self.prm
        c = u[grid.owned + (0,)]
        vol = float(np.prod(grid.spacing))
        bulk = p[RHO] * (c - p[CA]) ** 2 * (p[CB] - c) ** 2
        grad = 0.0
        for ax in range(3 - grid.dim, 3):
            # each owned cell's upper face; the lower domain face is counted by its owner (or is zero flux)
            sl = list(grid.owned)
            up = list(grid.owned)
            up[ax] = slice(sl[ax].start + 1, sl[ax].stop + 1)
            diff = u[tuple(up) + (0,)] - c
            grad += 0.5 * p[KAPPA] * float(np.sum(diff ** 2)) / grid.spacing[2 - ax] ** 2
        return (float(np.sum(bulk)) + grad) * vol
