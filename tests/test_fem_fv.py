"""The compiled two-point-flux kernel against a face-by-face scipy twin."""
import numpy as np
import pytest
import scipy.sparse as sp

from bda_hpc._ext.fem_fv import fv_rows


def reference_fv(sigma, spacing, axis, u_in, u_out):
    """Matrix and rhs face by face: harmonic-mean conductances, Dirichlet half a voxel outside."""
    number = np.arange(sigma.size).reshape(sigma.shape)
    A = sp.lil_matrix((sigma.size, sigma.size))
    rhs = np.zeros(sigma.size)
    h = np.asarray(spacing, dtype=float)
    for d in range(3):
        area_over_dist = np.prod(h) / h[d] ** 2
        for p in np.ndindex(*sigma.shape):
            q = list(p)
            q[d] += 1
            if q[d] < sigma.shape[d]:
                s, t = sigma[p], sigma[tuple(q)]
                if s > 0 and t > 0:
                    c = 2 * s * t / (s + t) * area_over_dist
                    i, j = number[p], number[tuple(q)]
                    A[i, i] += c
                    A[j, j] += c
                    A[i, j] -= c
                    A[j, i] -= c
            if d == axis and sigma[p] > 0 and p[d] in (0, sigma.shape[d] - 1):
                for value, end in ((u_in, 0), (u_out, sigma.shape[d] - 1)):
                    if p[d] == end:
                        c = 2 * sigma[p] * area_over_dist
                        A[number[p], number[p]] += c
                        rhs[number[p]] += c * value
    for i in range(sigma.size):
        if A[i, i] == 0:
            A[i, i] = 1.0
    return A.tocsr(), rhs


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_fv_kernel_matches_facewise_assembly(axis):
    rng = np.random.default_rng(axis)
    sigma = rng.random((4, 3, 5)) * (rng.random((4, 3, 5)) > 0.35)
    spacing = (1.0, 0.5, 2.0)
    number = np.arange(sigma.size, dtype=np.int32).reshape(sigma.shape)
    indptr, cols, vals, rhs = fv_rows(sigma, number, (0, 0, 0), sigma.shape, (0, 0, 0), sigma.shape, spacing,
                                      axis, 0.7, -0.2)
    A = sp.csr_matrix((vals, cols, indptr), shape=(sigma.size,) * 2)
    A_ref, rhs_ref = reference_fv(sigma, spacing, axis, 0.7, -0.2)
    np.testing.assert_allclose(A.toarray(), A_ref.toarray(), atol=1e-14)
    np.testing.assert_allclose(rhs, rhs_ref, atol=1e-14)
