"""Li electrodeposition (Chen et al. 2015 form, REFERENCES §1), nondimensional, 2D and 3D.

Fields: ξ (1 in Li metal), c = c/c0 (Li⁺ in the electrolyte), φ (potential in
units of RT/(nF), so that nFη/(RT) = φ). Lengths in µm, time in s, energies in
E0 = 2.5e6 J/m³; conductivities in S/m. Residuals at each cell::

    F_ξ = ξ̇ - f(c) R,   R = -Lσ [g'(ξ) - ∇·q(∇ξ)] - Lη h'(ξ) [e^{(1-α)φ} - c e^{-αφ}]
    F_c = ċ - ∇·[D(ξ) (∇c + c ∇φ)] + (c_s/c0) ξ̇   (Scharfetter–Gummel face fluxes)
    F_φ = {-∇·[σ(ξ, c) ∇φ] + P ξ̇} / σ(ξ),    P = n² F² c_s l0² / (R T t0 · 1 S/m)

with q the anisotropic gradient flux of :mod:`stencil` (ε0² = κ0), D and σ
interpolated with h(ξ) and averaged arithmetically onto faces; the electrolyte
conductivity may follow c (:func:`electrolyte_conductivity`, share w; w = 0,
the default, is Chen et al.'s constant σ_l, under which c piles up to ~6.5 ahead
of the tip; w = 1 does not cure that, see there). f(c) is the
ion limit on deposition (:func:`ion_limit`; f ≡ 1 is Chen et al.'s form):
without it c goes negative (to about -4 in examples/dendrite_2d_small.toml,
and no better on finer grids — it is the model form, not the discretisation)
because the capillary part of R fills concave corners and the metal-side tail
of a moving front, consuming c_s/c0 = 76 ions per unit ξ, where no ions are
left; the matching capillary dissolution of convex caps enriches c there. The φ row
is divided by the cell's own σ(ξ), so that rows in the metal (σ = 1e7 S/m)
and in the electrolyte (1.19 S/m) are equally well resolved by the
nonlinear tolerance (unscaled, round-off in the metal rows stalls Newton); the
preconditioner undoes it (:class:`~bda_hpc.phasefield.preconditioners.UnscaledRows`
via :meth:`LiDeposition.row_scale`), so AMG sees the symmetric σ-Laplacian. Boundaries
(face values): x-: ξ = 1, φ = φ_applied, zero ion flux; x+: ξ = 0, c = 1,
φ = 0; zero flux elsewhere.

Conservation built into this form: Σ (c + (c_s/c0) ξ) changes only by the ion
flux through the faces, and Σ of the φ residual makes the current through
the boundary faces equal P Σ ξ̇ (Faraday).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .model import Model
from .sparsity import BOX, NONE, POINT, STAR
from .stencil import aniso_divergence, aniso_divergence_jac, aniso_energy, first_axis, oidx, unit_step

# parameter vector layout (the kernels read these positions)
(L_SIGMA, KAPPA, W_BARRIER, DELTA, L_ETA, ALPHA, RATIO_CS, D_S, D_L, SIG_S, SIG_L, POISSON, ION_LIMIT,
 SIG_C_SHARE) = range(14)
XI, C, PHI = 0, 1, 2


@njit(cache=True, inline="always")
def _h(x):
    return x * x * x * (6.0 * x * x - 15.0 * x + 10.0)


@njit(cache=True, inline="always")
def _dh(x):
    return 30.0 * x * x * (1.0 - x) * (1.0 - x)


@njit(cache=True, inline="always")
def _d2h(x):
    return 60.0 * x * (1.0 - x) * (1.0 - 2.0 * x)


@njit(cache=True, inline="always")
def _sigma(x, p):
    """σ(ξ) at c = 1: the row scale of the φ equation (any positive scale; this one is c-independent)."""
    return p[SIG_S] * _h(x) + p[SIG_L] * (1.0 - _h(x))


@njit(cache=True, inline="always")
def electrolyte_conductivity(c, p):
    """σ_l(c) = σ_l [(1 - w) + w c] (S/m): the share w carried by Li⁺ follows c (Nernst–Einstein).

    σ_l = F² D_l c0 / (R T) (1.19 S/m for the table's D_l, c0: the table's σ_l *is* the Li⁺ migration
    conductivity at c = 1). With w = 1 the current in the pure electrolyte is F times the migration
    part of the Li⁺ flux, so there c obeys plain diffusion (no pile-up by migration). w = 0 (the
    default) is Chen et al.'s constant conductivity. Measured (bda_hpc.phasefield.model_checks,
    results/pf_ion_conductivity.json/.png, small example to 2 s): w = 1 does *not* remove the
    overshoot at the tip (max c 6.5 → 19) and the dendrite grows about twice as fast, because in the
    interface region σ is carried by σ_s h(ξ) while the ions move with D(ξ) — the inconsistency sits in
    the diffuse interface, not in the bulk electrolyte; so the option stays off.
    """
    return p[SIG_L] * ((1.0 - p[SIG_C_SHARE]) + p[SIG_C_SHARE] * c)


@njit(cache=True, inline="always")
def face_conductivity(hc, hn, cc, cn, p):
    """σ on a face: the cells' σ_s h + σ_l(c)(1 - h) averaged arithmetically."""
    return 0.5 * (p[SIG_S] * (hc + hn) + electrolyte_conductivity(cc, p) * (1.0 - hc)
                  + electrolyte_conductivity(cn, p) * (1.0 - hn))


@njit(cache=True)
def bernoulli(x):
    """B(x) = x / (e^x - 1), the Scharfetter–Gummel weight (series near 0)."""
    if abs(x) < 1e-5:
        return 1.0 - 0.5 * x + x * x / 12.0
    return x / np.expm1(x)


@njit(cache=True)
def bernoulli_prime(x):
    if abs(x) < 1e-5:
        return -0.5 + x / 6.0
    e = np.expm1(x)
    return (e - x * (e + 1.0)) / (e * e)


@njit(cache=True)
def ion_limit(c, k):
    """(f, ∂f/∂c): the factor on the phase-change rate, f = (1 + K²) c² / (c² + K²).

    Every change of ξ consumes or releases c_s/c0 ions in the same cell, but only the cathodic
    Butler–Volmer term knows that ions are needed; the capillary (Allen–Cahn) part fills concave
    corners and the metal-side tail of a moving front even where no ions are left, and drives c
    negative. With f, a cell without Li⁺ (c → 0) neither deposits nor dissolves, so c = 0 is a
    barrier the ODE cannot cross; f(1) = 1 and f > 0.99 for c > 10 K, so the model is unchanged
    where ions are present. f is smooth and even: the metal bulk sits at c = 0, and Newton
    iterates that undershoot to c < 0 must still see a slope (f = 0 for c < 0 stalls Newton;
    an odd f turns requested dissolution into deposition there and runs away). K = 0 is the
    original Chen et al. model.
    """
    if k <= 0.0:
        return 1.0, 0.0
    k2 = k * k
    d = c * c + k2
    return (1.0 + k2) * c * c / d, (1.0 + k2) * 2.0 * c * k2 / (d * d)


@njit(cache=True)
def li_residual(u, udot, F, p, h, off, dim):
    nz, ny, nx = F.shape[0], F.shape[1], F.shape[2]
    eps0 = np.sqrt(p[KAPPA])
    grad, hess = np.empty(3), np.empty((3, 3))  # scratch of the anisotropic flux
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                gk, gj, gi = k + off[0], j + off[1], i + off[2]
                xi, c, phi = u[gk, gj, gi, XI], u[gk, gj, gi, C], u[gk, gj, gi, PHI]
                xid = udot[k, j, i, XI]
                gp = 2.0 * p[W_BARRIER] * xi * (1.0 - xi) * (1.0 - 2.0 * xi)
                bv = np.exp((1.0 - p[ALPHA]) * phi) - c * np.exp(-p[ALPHA] * phi)
                div = aniso_divergence(u, XI, gk, gj, gi, h, dim, eps0, p[DELTA], grad, hess)
                rate = -p[L_SIGMA] * (gp - div) - p[L_ETA] * _dh(xi) * bv
                F[k, j, i, XI] = xid - ion_limit(c, p[ION_LIMIT])[0] * rate
                ion = 0.0
                cur = 0.0
                for ax in range(first_axis(dim), 3):
                    ez, ey, ex = unit_step(ax)
                    for s in (-1, 1):
                        nk, nj, ni = gk + s * ez, gj + s * ey, gi + s * ex
                        hn = _h(u[nk, nj, ni, XI])
                        hc = _h(xi)
                        dface = 0.5 * (p[D_S] * (hc + hn) + p[D_L] * (2.0 - hc - hn))
                        sface = face_conductivity(hc, hn, c, u[nk, nj, ni, C], p)
                        jump = u[nk, nj, ni, PHI] - phi
                        # Scharfetter–Gummel inflow from the neighbour (keeps c positive at steep φ)
                        ion += dface * (bernoulli(-jump) * u[nk, nj, ni, C] - bernoulli(jump) * c) / h[ax] ** 2
                        cur += sface * jump / h[ax] ** 2
                F[k, j, i, C] = udot[k, j, i, C] - ion + p[RATIO_CS] * xid
                # scaled by the cell conductivity: O(1) rows in metal and electrolyte alike (σ jumps 1e7)
                F[k, j, i, PHI] = (-cur + p[POISSON] * xid) / _sigma(xi, p)


@njit(cache=True)
def li_jacobian(u, udot, shift, vals, row_start, slot, p, h, off, dim):
    nz, ny, nx = row_start.shape[0], row_start.shape[1], row_start.shape[2]
    eps0 = np.sqrt(p[KAPPA])
    grad, hess = np.empty(3), np.empty((3, 3))  # scratch of the anisotropic flux
    centre = oidx(0, 0, 0)
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                gk, gj, gi = k + off[0], j + off[1], i + off[2]
                xi, c, phi = u[gk, gj, gi, XI], u[gk, gj, gi, C], u[gk, gj, gi, PHI]
                r0, r1, r2 = row_start[k, j, i, XI], row_start[k, j, i, C], row_start[k, j, i, PHI]
                ea = np.exp((1.0 - p[ALPHA]) * phi)
                eb = np.exp(-p[ALPHA] * phi)
                gp = 2.0 * p[W_BARRIER] * xi * (1.0 - xi) * (1.0 - 2.0 * xi)
                gpp = 2.0 * p[W_BARRIER] * (1.0 - 6.0 * xi + 6.0 * xi * xi)
                div = aniso_divergence(u, XI, gk, gj, gi, h, dim, eps0, p[DELTA], grad, hess)
                rate = -p[L_SIGMA] * (gp - div) - p[L_ETA] * _dh(xi) * (ea - c * eb)
                f, df = ion_limit(c, p[ION_LIMIT])
                # F_ξ = ξ̇ - f(c) rate: the derivatives of -rate scaled by f, plus -rate f'(c) in the c column
                vals[r0 + slot[XI, centre, XI]] += shift + f * (p[L_SIGMA] * gpp + p[L_ETA] * _d2h(xi) * (ea - c * eb))
                vals[r0 + slot[XI, centre, C]] += -f * p[L_ETA] * _dh(xi) * eb - rate * df
                vals[r0 + slot[XI, centre, PHI]] += f * p[L_ETA] * _dh(xi) * ((1.0 - p[ALPHA]) * ea + p[ALPHA] * c * eb)
                aniso_divergence_jac(u, XI, gk, gj, gi, h, dim, eps0, p[DELTA], -f * p[L_SIGMA], vals, r0, slot, XI,
                                     grad, hess)
                vals[r1 + slot[C, centre, C]] += shift
                vals[r1 + slot[C, centre, XI]] += p[RATIO_CS] * shift
                hc = _h(xi)
                dhc = _dh(xi)
                inv_sig = 1.0 / _sigma(xi, p)
                cur = 0.0  # Σ σ_face Δφ / h², for the derivative of the 1/σ(ξ) row scaling
                vals[r2 + slot[PHI, centre, XI]] += p[POISSON] * shift * inv_sig
                for ax in range(first_axis(dim), 3):
                    ez, ey, ex = unit_step(ax)
                    w = 1.0 / h[ax]
                    for s in (-1, 1):
                        nk, nj, ni = gk + s * ez, gj + s * ey, gi + s * ex
                        on = oidx(s * ez, s * ey, s * ex)
                        xn = u[nk, nj, ni, XI]
                        hn = _h(xn)
                        dhn = _dh(xn)
                        dface = 0.5 * (p[D_S] * (hc + hn) + p[D_L] * (2.0 - hc - hn))
                        cn = u[nk, nj, ni, C]
                        sface = face_conductivity(hc, hn, c, cn, p)
                        dd = 0.5 * (p[D_S] - p[D_L])  # ∂dface/∂h of either cell
                        ds_c = 0.5 * (p[SIG_S] - electrolyte_conductivity(c, p))  # ∂sface/∂h of this cell
                        ds_n = 0.5 * (p[SIG_S] - electrolyte_conductivity(cn, p))
                        dsdc = 0.5 * p[SIG_L] * p[SIG_C_SHARE]  # ∂sface/∂c of a cell, times 1/(1 - h)
                        jump = u[nk, nj, ni, PHI] - phi
                        dphi = jump * w
                        flux = (bernoulli(-jump) * cn - bernoulli(jump) * c) * w
                        dflux = -(bernoulli_prime(-jump) * cn + bernoulli_prime(jump) * c) * w  # ∂flux/∂φ_n
                        # F_c -= dface * flux * w
                        vals[r1 + slot[C, on, C]] -= dface * bernoulli(-jump) * w * w
                        vals[r1 + slot[C, centre, C]] += dface * bernoulli(jump) * w * w
                        vals[r1 + slot[C, on, PHI]] -= dface * dflux * w
                        vals[r1 + slot[C, centre, PHI]] += dface * dflux * w
                        vals[r1 + slot[C, on, XI]] -= dd * dhn * flux * w
                        vals[r1 + slot[C, centre, XI]] -= dd * dhc * flux * w
                        # F_φ -= sface * dphi * w / σ(ξ)
                        cur += sface * dphi * w
                        vals[r2 + slot[PHI, on, PHI]] -= sface * w * w * inv_sig
                        vals[r2 + slot[PHI, centre, PHI]] += sface * w * w * inv_sig
                        vals[r2 + slot[PHI, on, XI]] -= ds_n * dhn * dphi * w * inv_sig
                        vals[r2 + slot[PHI, centre, XI]] -= ds_c * dhc * dphi * w * inv_sig
                        if p[SIG_C_SHARE] != 0.0:
                            vals[r2 + slot[PHI, on, C]] -= dsdc * (1.0 - hn) * dphi * w * inv_sig
                            vals[r2 + slot[PHI, centre, C]] -= dsdc * (1.0 - hc) * dphi * w * inv_sig
                unscaled = -cur + p[POISSON] * udot[k, j, i, XI]
                vals[r2 + slot[PHI, centre, XI]] -= unscaled * (p[SIG_S] - p[SIG_L]) * dhc * inv_sig * inv_sig


@njit(cache=True)
def _bulk_energy(u, off, own, wbar):
    total = 0.0
    for k in range(off[0], off[0] + own[0]):
        for j in range(off[1], off[1] + own[1]):
            for i in range(off[2], off[2] + own[2]):
                x = u[k, j, i, XI]
                total += wbar * x * x * (1.0 - x) * (1.0 - x)
    return total


class LiDeposition(Model):
    """The nondimensional Li electrodeposition model; build it with :meth:`from_physical`."""

    name = "li_deposition"
    fields = ("xi", "c", "phi")
    algebraic = (False, False, True)
    coupling = [[BOX, POINT, POINT], [STAR, STAR, STAR], [STAR, NONE, STAR]]  # φ rows see c only if σ_l(c)
    residual_kernel = staticmethod(li_residual)
    jacobian_kernel = staticmethod(li_jacobian)

    def __init__(self, prm: np.ndarray, phi_applied: float, dim: int, front: float, noise: float = 0.0,
                 seed: int = 0, nuclei=()):
        self.prm = np.asarray(prm, dtype=float)
        self.phi_applied = float(phi_applied)
        self.periodic = (False,) * dim
        self.front = front
        self.noise = noise
        self.seed = seed
        self.nuclei = [tuple(n) for n in nuclei]
        if self.prm[SIG_C_SHARE] != 0.0:
            self.coupling = [[BOX, POINT, POINT], [STAR, STAR, STAR], [STAR, STAR, STAR]]

    @classmethod
    def from_physical(cls, phys, dim: int, front: float, **kwargs) -> LiDeposition:
        """``phys``: :class:`~bda_hpc.phasefield.li_params.LiPhysical` (SI); nondimensionalise it here."""
        from .li_params import nondimensional

        prm, phi = nondimensional(phys)
        return cls(prm, phi, dim, front, **kwargs)

    def faces(self) -> dict:
        from .grid import FaceCondition

        return {"x-": FaceCondition((1.0, None, self.phi_applied)), "x+": FaceCondition((0.0, 1.0, 0.0))}

    def parameters(self) -> np.ndarray:
        return self.prm

    def row_scale(self, owned_u: np.ndarray) -> np.ndarray:
        """σ(ξ) on the φ rows (which the residual divides by it), 1 on the ξ and c rows."""
        scale = np.ones_like(owned_u)
        scale[..., PHI] = _sigma(owned_u[..., XI], self.prm)
        return scale

    def describe(self) -> dict:
        return {**super().describe(), "parameters": self.prm.tolist(), "phi_applied": self.phi_applied}

    @property
    def interface_length(self) -> float:
        """ℓ = √(κ0 / 2W) (µm): the tanh profile is ½[1 - tanh(x / 2ℓ)]."""
        return float(np.sqrt(self.prm[KAPPA] / (2.0 * self.prm[W_BARRIER])))

    def initial_state(self, grid) -> np.ndarray:
        """Flat front at x = ``front`` (µm) plus optional hemispherical nuclei and seeded noise."""
        coords = grid.centres()
        x = coords[0]
        ell = self.interface_length
        dist = np.broadcast_to(x - self.front, grid.own_size).copy()
        for nucleus in self.nuclei:  # (y, [z,] radius): a bump centred on the front
            *centre, radius = nucleus
            r2 = (x - self.front) ** 2
            for a, cpos in enumerate(centre):
                r2 = r2 + (coords[a + 1] - cpos) ** 2
            dist = np.minimum(dist, np.sqrt(r2) - radius)
        xi = 0.5 * (1.0 - np.tanh(dist / (2.0 * ell)))
        if self.noise > 0:
            xi = xi + self._noise(grid) * (xi * (1.0 - xi) * 4.0)
        u = np.zeros(grid.own_size + (3,))
        u[..., XI] = np.clip(xi, 0.0, 1.0)
        u[..., C] = 1.0 - _h(u[..., XI])
        u[..., PHI] = self.phi_applied * _h(u[..., XI])
        return u

    def _noise(self, grid) -> np.ndarray:
        """Uniform noise in ±noise from a seeded generator over the whole grid (same for any rank count)."""
        rng = np.random.default_rng(self.seed)
        full = rng.uniform(-self.noise, self.noise, size=tuple(reversed(grid.cells)))
        if grid.dim == 2:
            full = full[None]
        return full[tuple(slice(s, s + n) for s, n in zip(grid.own_start, grid.own_size))]

    def energy(self, grid, u: np.ndarray) -> float:
        h = np.array([grid.spacing[2] if grid.dim == 3 else 1.0, grid.spacing[1], grid.spacing[0]])
        off = np.array(grid.offset, dtype=np.int64)
        own = np.array(grid.own_size, dtype=np.int64)
        vol = float(np.prod(grid.spacing))
        bulk = _bulk_energy(u, off, own, self.prm[W_BARRIER]) * vol
        return bulk + aniso_energy(u, XI, h, off, own, grid.dim, np.sqrt(self.prm[KAPPA]), self.prm[DELTA])
