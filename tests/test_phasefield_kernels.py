"""Phase-field kernels: Jacobians against finite differences, residuals against slow NumPy twins."""
import numpy as np
import pytest

petsc4py = pytest.importorskip("petsc4py")


def _solver(model, cells, spacing):
    from mpi4py import MPI

    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    grid = Grid(MPI.COMM_SELF, cells, spacing, model.dof, periodic=model.periodic, faces=model.faces(),
                field_names=model.fields)
    return grid, PhaseFieldSolver(MPI.COMM_SELF, grid, model)


def _li(dim, **kw):
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical

    # a moderate conductivity keeps the finite-difference Jacobian well conditioned
    return LiDeposition.from_physical(LiPhysical(conductivity_electrode=10.0, **kw), dim, front=2.0)


def _ch(variant):
    from bda_hpc.phasefield.cahn_hilliard import CahnHilliard

    return CahnHilliard(variant)


def _random_state(model, grid, solver, seed=1):
    rng = np.random.default_rng(seed)
    solver.set_state(model.initial_state(grid) + 0.05 * rng.standard_normal(grid.own_size + (model.dof,)))
    xdot = solver.u.duplicate()
    xdot.getArray()[:] = rng.standard_normal(xdot.getLocalSize())
    return xdot


def _kr():
    from bda_hpc.phasefield.karma_rappel import KarmaRappel

    return KarmaRappel(seed_radius=2.0)


@pytest.mark.parametrize("make, cells, spacing", [
    (lambda: _li(2), (5, 4), (1.0, 1.0)),
    (lambda: _li(2, conductivity_li_share=0.9), (5, 4), (1.0, 1.0)),
    (lambda: _li(3), (4, 3, 3), (1.0, 1.0, 0.8)),
    (lambda: _ch("a"), (4, 4), (1.0, 1.5)),
    (lambda: _ch("b"), (4, 4), (1.0, 1.0)),
    (_kr, (5, 4), (0.8, 0.8)),
], ids=["li2d", "li2d_sigma_c", "li3d", "pfhub1a", "pfhub1b", "pfhub3"])
def test_jacobian_matches_finite_differences(make, cells, spacing):
    """dF/du + shift dF/du̇ assembled by the kernel equals central differences of the residual."""
    model = make()
    grid, s = _solver(model, cells, spacing)
    xdot = _random_state(model, grid, s)
    shift = 3.7
    s._assemble_jacobian(s.u, xdot, shift, s.J, s.J)
    dense = s.J.convert("dense")
    A = dense.getDenseArray().copy()
    n = s.u.getSize()
    fd = np.zeros((n, n))
    F = s.F.duplicate()
    eps = 1e-6
    for m in range(n):
        for sign in (1, -1):
            x = s.u.copy()
            x.getArray()[m] += sign * eps
            xd = xdot.copy()
            xd.getArray()[m] += sign * eps * shift
            s._ifunction(s.ts, 0.0, x, xd, F)
            fd[:, m] += sign * F.getArray() / (2 * eps)
            x.destroy()
            xd.destroy()
    F.destroy()
    dense.destroy()
    xdot.destroy()
    s.destroy()
    grid.destroy()
    assert np.abs(A - fd).max() <= 1e-7 * np.abs(fd).max()


def test_bm3_jacobian_leaves_out_the_direction_of_round_off_gradients():
    """τ(n) φ̇'s derivative through n ~ φ̇ / |∇φ| is noise over noise in the bulk: with round-off in φ (1e-12) and
    φ̇ (1e-11) the φ̇ terms stay at the interface (where |∇φ| ~ 1 / W0 they are ~ φ̇) and add nothing in the bulk,
    where the exact derivative gives entries of ~20 here (on BM3 at Δx 0.4 up to 42× the smallest diagonal)."""
    from bda_hpc.phasefield.karma_rappel import PHI, KarmaRappel

    model = KarmaRappel(seed_radius=2.0)
    grid, s = _solver(model, (40, 40), (0.4, 0.4))
    rng = np.random.default_rng(3)
    state = model.initial_state(grid)
    phi = state[..., PHI]
    settled = np.abs(np.abs(phi) - 1) < 1e-6
    phi[settled] = np.sign(phi[settled])  # the bulk at ±1 ...
    bulk = np.zeros_like(settled)  # ... where a cell and its neighbours are settled, the gradient is the noise alone
    bulk[:, 1:-1, 1:-1] = (settled[:, 1:-1, 1:-1] & settled[:, 2:, 1:-1] & settled[:, :-2, 1:-1]
                           & settled[:, 1:-1, 2:] & settled[:, 1:-1, :-2])
    assert bulk.sum() > 500 and (~bulk).sum() > 100
    state[..., PHI] = phi + 1e-12 * rng.standard_normal(phi.shape) * settled
    s.set_state(state)
    xdot = s.u.duplicate()
    rates = np.zeros(state.shape)
    rates[..., PHI] = np.where(bulk, 1e-11 * rng.standard_normal(phi.shape), 1.0)
    grid.owned_view(xdot)[...] = rates
    zero = s.u.duplicate()
    zero.set(0.0)
    s.jacobian_values(s.u, zero, 2.0)
    at_rest = s.sparsity.values.copy()
    s.jacobian_values(s.u, xdot, 2.0)
    moved = np.abs(s.sparsity.values - at_rest)
    rows_of_bulk = np.repeat(bulk.ravel(), s.sparsity.per_cell)  # each cell's rows lie together in the CSR
    assert moved[rows_of_bulk].max() == 0.0
    assert moved[~rows_of_bulk].max() > 0.1
    for v in (xdot, zero):
        v.destroy()
    s.destroy()
    grid.destroy()


def _kobayashi_flux(px, py, eps0, delta, d=1e-7):
    """q = ∂a/∂p of a = ½ ε(θ)² |p|², ε = ε0 (1 + δ cos 4θ), by central differences (REFERENCES §1 form)."""
    def a(x, y):
        theta = np.arctan2(y, x)
        return 0.5 * (eps0 * (1 + delta * np.cos(4 * theta))) ** 2 * (x * x + y * y)

    return (a(px + d, py) - a(px - d, py)) / (2 * d), (a(px, py + d) - a(px, py - d)) / (2 * d)


@pytest.mark.parametrize("delta", [0.05, -0.05])
def test_cubic_anisotropy_is_the_kobayashi_form_in_2d(delta):
    from bda_hpc.phasefield.stencil import cubic_hessian

    rng = np.random.default_rng(3)
    H = np.empty((3, 3))
    for _ in range(20):
        px, py = rng.standard_normal(2)
        cubic_hessian(np.array([0.0, py, px]), 0.7, delta, H)
        q = H @ np.array([0.0, py, px])
        qx, qy = _kobayashi_flux(px, py, 0.7, delta)
        assert q[2] == pytest.approx(qx, rel=1e-6, abs=1e-9)
        assert q[1] == pytest.approx(qy, rel=1e-6, abs=1e-9)


def _ghosted_numpy(model, u_owned):
    """Pad a 2D owned (1, ny, nx, dof) state with the boundary rule of grid.py (x faces, then y faces)."""
    u = np.pad(u_owned[0], ((1, 1), (1, 1), (0, 0)))
    faces = model.faces()
    for ax, lo, hi in ((1, "x-", "x+"), (0, "y-", "y+")):
        for name, g, m in ((lo, 0, 1), (hi, -1, -2)):
            vals = faces[name].values if name in faces else (None,) * model.dof
            sl_g = [slice(None)] * 2
            sl_m = [slice(None)] * 2
            sl_g[ax], sl_m[ax] = g, m
            for f, v in enumerate(vals):
                u[tuple(sl_g) + (f,)] = u[tuple(sl_m) + (f,)] if v is None else 2 * v - u[tuple(sl_m) + (f,)]
    return u


def _li_residual_twin(model, u, udot, h):
    """Plain NumPy/Python Li residual on a padded 2D array (anisotropic flux via the Kobayashi energy)."""
    from bda_hpc.phasefield import li_deposition as L

    p = model.prm
    hh = lambda x: x ** 3 * (6 * x * x - 15 * x + 10)  # noqa: E731
    ny, nx = u.shape[0] - 2, u.shape[1] - 2
    xi, c, phi = u[..., 0], u[..., 1], u[..., 2]
    D = p[L.D_S] * hh(xi) + p[L.D_L] * (1 - hh(xi))
    S = p[L.SIG_S] * hh(xi) + p[L.SIG_L] * (1 - hh(xi))  # the row scale (σ at c = 1)
    w = p[L.SIG_C_SHARE]
    Sc = p[L.SIG_S] * hh(xi) + p[L.SIG_L] * ((1 - w) + w * c) * (1 - hh(xi))  # Li⁺ share follows c
    B = lambda x: 1.0 - 0.5 * x if abs(x) < 1e-5 else x / np.expm1(x)  # noqa: E731
    eps0 = np.sqrt(p[L.KAPPA])
    F = np.zeros((ny, nx, 3))
    for j in range(1, ny + 1):
        for i in range(1, nx + 1):
            div = 0.0
            ion = cur = 0.0
            for (dj, di), hs in (((0, 1), h), ((1, 0), h)):
                for s in (1, -1):
                    # face between (j, i) and (j + s dj, i + s di); gradient normal + averaged tangential
                    jl, il = (j, i) if s == 1 else (j - dj, i - di)
                    jr, ir = jl + dj, il + di
                    gn = (xi[jr, ir] - xi[jl, il]) / hs
                    tj, ti = di, dj  # the tangential direction
                    gt = (xi[jl + tj, il + ti] + xi[jr + tj, ir + ti] - xi[jl - tj, il - ti]
                          - xi[jr - tj, ir - ti]) / (4 * hs)
                    px, py = (gn, gt) if di else (gt, gn)
                    qx, qy = _kobayashi_flux(px, py, eps0, p[L.DELTA])
                    div += s * (qx if di else qy) / hs
                    jn, in_ = j + s * dj, i + s * di
                    jump = phi[jn, in_] - phi[j, i]
                    ion += 0.5 * (D[j, i] + D[jn, in_]) * (B(-jump) * c[jn, in_] - B(jump) * c[j, i]) / hs ** 2
                    cur += 0.5 * (Sc[j, i] + Sc[jn, in_]) * jump / hs ** 2
            x = xi[j, i]
            bv = np.exp((1 - p[L.ALPHA]) * phi[j, i]) - c[j, i] * np.exp(-p[L.ALPHA] * phi[j, i])
            gp = 2 * p[L.W_BARRIER] * x * (1 - x) * (1 - 2 * x)
            xd = udot[j - 1, i - 1, 0]
            k2 = p[L.ION_LIMIT] ** 2
            f = (1 + k2) * c[j, i] ** 2 / (c[j, i] ** 2 + k2)  # ion limit on the phase-change rate
            F[j - 1, i - 1, 0] = xd + f * (p[L.L_SIGMA] * (gp - div) + p[L.L_ETA] * 30 * x * x * (1 - x) ** 2 * bv)
            F[j - 1, i - 1, 1] = udot[j - 1, i - 1, 1] - ion + p[L.RATIO_CS] * xd
            F[j - 1, i - 1, 2] = (-cur + p[L.POISSON] * xd) / S[j, i]
    return F


@pytest.mark.parametrize("share", [0.0, 0.9], ids=["sigma_const", "sigma_c"])
def test_li_residual_matches_numpy_twin(share):
    model = _li(2, conductivity_li_share=share)
    grid, s = _solver(model, (7, 5), (0.5, 0.5))
    xdot = _random_state(model, grid, s, seed=5)
    s._ifunction(s.ts, 0.0, s.u, xdot, s.F)
    fast = grid.owned_view(s.F)[0].copy()
    twin = _li_residual_twin(model, _ghosted_numpy(model, s.state()), grid.owned_view(xdot)[0], 0.5)
    xdot.destroy()
    s.destroy()
    grid.destroy()
    # the twin's flux comes from finite differences of the energy: agreement to ~1e-6 of the largest term
    assert np.abs(fast - twin).max() <= 1e-6 * np.abs(twin).max()


def test_cahn_hilliard_residual_matches_numpy_twin():
    model = _ch("a")
    grid, s = _solver(model, (6, 5), (1.0, 2.0))
    xdot = _random_state(model, grid, s, seed=2)
    s._ifunction(s.ts, 0.0, s.u, xdot, s.F)
    fast = grid.owned_view(s.F)[0].copy()
    u = s.state()[0]
    rho, ca, cb, M, kappa = model.prm

    def lap(f):
        return ((np.roll(f, 1, 1) - 2 * f + np.roll(f, -1, 1)) / 1.0 ** 2
                + (np.roll(f, 1, 0) - 2 * f + np.roll(f, -1, 0)) / 2.0 ** 2)

    c, mu = u[..., 0], u[..., 1]
    fprime = 2 * rho * (c - ca) * (cb - c) ** 2 - 2 * rho * (c - ca) ** 2 * (cb - c)
    twin = np.stack([grid.owned_view(xdot)[0, ..., 0] - M * lap(mu), mu - fprime + kappa * lap(c)], axis=-1)
    xdot.destroy()
    s.destroy()
    grid.destroy()
    assert np.abs(fast - twin).max() <= 1e-12 * np.abs(twin).max()


@pytest.mark.parametrize("dim", [2, 3])
def test_exact_pattern_matrix_holds_the_dmda_matrix_operator(dim):
    """The matrix preallocated from the model's coupling table (Krylov/ILU/AMG runs) holds the same Jacobian
    as the DMDA's box-stencil matrix (LU runs), with at most the coupling table's entries per cell."""
    from petsc4py import PETSc

    model = _li(dim)
    grid, s = _solver(model, (6, 5) if dim == 2 else (5, 4, 4), (1.0,) * dim)
    xdot = _random_state(model, grid, s)
    exact, box = s.sparsity.create_matrix(grid), grid.da.createMatrix()
    for mat in (exact, box):
        s._assemble_jacobian(s.u, xdot, 3.0, mat, mat)
    diff = exact.copy()
    diff.axpy(-1.0, box, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
    assert diff.norm(PETSc.NormType.INFINITY) <= 1e-12 * box.norm(PETSc.NormType.INFINITY)
    stored = exact.getInfo()["nz_used"]
    assert stored <= s.sparsity.per_cell * grid.n_owned
    assert box.getInfo()["nz_used"] > 1.5 * stored
    for obj in (exact, box, diff, xdot):
        obj.destroy()
    s.destroy()
    grid.destroy()
