"""Q1 voxel elements: the compiled row kernel against an element-by-element scipy twin, and convergence."""
import numpy as np
import pytest
import scipy.sparse as sp

from bda_hpc._ext.fem_q1 import q1_rows
from bda_hpc.fem import q1


def reference_system(sigma, fixed, source, spacing):
    """Global matrix and rhs built element by element (obviously correct, slow), same BC treatment."""
    nodes = tuple(n + 1 for n in sigma.shape)
    number = np.arange(np.prod(nodes)).reshape(nodes)
    ke, me = q1.stiffness(spacing), q1.mass(spacing)
    K = sp.lil_matrix((number.size, number.size))
    load = np.zeros(number.size)
    for e in np.ndindex(*sigma.shape):
        idx = [number[e[0] + c[0], e[1] + c[1], e[2] + c[2]] for c in q1.corners()]
        for a in range(8):
            load[idx[a]] += me[a] @ source.ravel()[idx]
            for b in range(8):
                K[idx[a], idx[b]] += sigma[e] * ke[a, b]
    K = K.tocsr()
    g = fixed.ravel()
    free = np.isnan(g)
    diag = K.diagonal()
    A = sp.lil_matrix(K.shape)
    rhs = load - K[:, ~free] @ g[~free]
    Kf = K.tolil()
    for i in range(K.shape[0]):
        if not free[i] or diag[i] == 0:
            d = diag[i] if (not free[i] and diag[i] != 0) else 1.0
            A[i, i] = d
            rhs[i] = d * g[i] if not free[i] else 0.0
        else:
            for j, v in zip(Kf.rows[i], Kf.data[i]):
                if free[j]:
                    A[i, j] = v
    return A.tocsr(), rhs


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.5, 1.0, 2.0)])
def test_kernel_matches_elementwise_assembly(spacing):
    rng = np.random.default_rng(3)
    sigma = rng.random((3, 4, 5)) * (rng.random((3, 4, 5)) > 0.3)
    sigma[:, 0, 0] = 0.0  # a line of empty elements makes some nodes inactive
    nodes = tuple(n + 1 for n in sigma.shape)
    fixed = np.full(nodes, np.nan)
    fixed[0] = rng.random(nodes[1:])
    fixed[-1, 2, :] = 0.25
    source = rng.random(nodes)
    number = np.arange(np.prod(nodes), dtype=np.int32).reshape(nodes)
    indptr, cols, vals, rhs = q1_rows(sigma, number, fixed, source, q1.stiffness(spacing), q1.mass(spacing),
                                      (0, 0, 0), nodes)
    A = sp.csr_matrix((vals, cols, indptr), shape=(number.size,) * 2)
    A_ref, rhs_ref = reference_system(sigma, fixed, source, spacing)
    np.testing.assert_allclose(A.toarray(), A_ref.toarray(), atol=1e-14)
    np.testing.assert_allclose(rhs, rhs_ref, atol=1e-14)
    assert abs(A - A.T).max() < 1e-14


def test_element_matrices():
    ke = q1.stiffness((0.5, 1.0, 2.0))
    assert np.allclose(ke, ke.T) and np.allclose(ke.sum(axis=1), 0.0)
    # a linear field u = x0 has energy |grad u|^2 * volume
    u = q1.corners()[:, 0] * 0.5
    assert np.isclose(u @ ke @ u, 1.0 * 1.0)
    assert np.isclose(q1.mass((0.5, 1.0, 2.0)).sum(), 1.0)


def exact(x, y, z):
    return 1.0 - x + np.sin(np.pi * x) * np.cos(np.pi * y) * np.cos(np.pi * z)


def l2_error_mms(comm, n):
    """L2 error of the Q1 solution of -lap u = f on the unit cube (u given on x = 0, 1; insulated elsewhere)."""
    from bda_hpc.fem.assembly import assemble
    from bda_hpc.fem.grid import VoxelGrid
    from bda_hpc.fem.solver import LinearSolver

    grid = VoxelGrid(comm, (n, n, n), (1.0 / n,) * 3)
    x, y, z = grid.node_coordinates()
    f = 3 * np.pi**2 * np.sin(np.pi * x) * np.cos(np.pi * y) * np.cos(np.pi * z) + 0 * (y + z)
    on_face = (np.abs(x) < 1e-12) | (np.abs(x - 1) < 1e-12)
    fixed = np.where(on_face, exact(x, y, z), np.nan) + 0 * (y + z)
    A, b = assemble(grid, np.ones((n, n, n)), fixed, f)
    u = grid.create_vec()
    solver = LinearSolver(comm, {"ksp_rtol": 1e-12, "ksp_max_it": 1000}, prefix="fem_test_mms_")
    solver.solve(A, b, u, nonzero_guess=False)
    full = grid.gather(u, root=0)
    for obj in (A, b, u, solver, grid):
        obj.destroy()
    if comm.rank != 0:
        return None
    # 3x3x3 Gauss quadrature of (u_h - u)^2 over every element
    pts, wts = q1.gauss_points(3)
    shape = q1.shape_values(pts)
    h = 1.0 / n
    corners = np.stack([full[c0:c0 + n, c1:c1 + n, c2:c2 + n] for c0, c1, c2 in q1.corners()], axis=-1)
    uh = corners @ shape.T  # (n, n, n, npts)
    e = np.arange(n)
    X = (e[:, None, None, None] + pts[:, 0]) * h
    Y = (e[None, :, None, None] + pts[:, 1]) * h
    Z = (e[None, None, :, None] + pts[:, 2]) * h
    err2 = np.sum((uh - exact(X, Y, Z)) ** 2 * wts) * h**3
    return np.sqrt(err2)


def test_q1_converges_at_order_two_in_l2(comm):
    errors = [l2_error_mms(comm, n) for n in (6, 12, 24)]
    if comm.rank == 0:
        rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
        assert np.all(np.abs(rates - 2.0) < 0.15), (errors, rates)
