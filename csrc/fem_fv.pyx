# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Row-wise assembly of the cell-centred two-point-flux (finite-volume) conduction matrix of a voxel image.

One unknown per voxel; neighbours across a face are coupled by the harmonic
mean of their conductivities times area / distance, the scheme taufactor and
porespy use. Along ``axis`` the first and last voxel layers see Dirichlet
values ``u_in`` and ``u_out`` on the outer face, half a voxel away; all other
outer faces are insulated. Voxels with zero conductivity get identity rows.

The slow twin is ``tests/test_fem_fv.py::reference_fv`` (scipy, face by face).
"""
import numpy as np
cimport numpy as cnp

cnp.import_array()

include "fem/sort_row.pxi"


def fv_rows(const double[:, :, ::1] sigma not None, const int[:, :, ::1] gnum not None,
            owned_start, owned_shape, ghost_start, voxels, spacing, int axis, double u_in, double u_out):
    """CSR rows (indptr, global columns ascending in each row, values) and right-hand side of the owned cells.

    sigma and gnum cover this rank's ghosted cell box; ghost_start is that box's
    global corner, voxels the global image shape, spacing the voxel size per axis.
    """
    cdef Py_ssize_t o[3]
    cdef Py_ssize_t m[3]
    cdef Py_ssize_t gs[3]
    cdef Py_ssize_t nv[3]
    cdef double cond[3]
    cdef int d
    for d in range(3):
        o[d] = owned_start[d]
        m[d] = owned_shape[d]
        gs[d] = ghost_start[d]
        nv[d] = voxels[d]
    cdef double h0 = spacing[0], h1 = spacing[1], h2 = spacing[2]
    cond[0] = h1 * h2 / h0
    cond[1] = h0 * h2 / h1
    cond[2] = h0 * h1 / h2
    if (gnum.shape[0], gnum.shape[1], gnum.shape[2]) != (sigma.shape[0], sigma.shape[1], sigma.shape[2]):
        raise ValueError("sigma and gnum must both cover the ghosted cell box")
    if axis < 0 or axis > 2:
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    for d in range(3):
        if o[d] < 0 or o[d] + m[d] > sigma.shape[d]:
            raise ValueError("owned box lies outside the ghosted box")

    cdef Py_ssize_t nrows = m[0] * m[1] * m[2]
    indptr_arr = np.zeros(nrows + 1, dtype=np.int32)
    rhs_arr = np.zeros(nrows, dtype=np.float64)
    cols_arr = np.empty(7 * nrows, dtype=np.int32)
    vals_arr = np.empty(7 * nrows, dtype=np.float64)
    cdef int[::1] indptr = indptr_arr
    cdef double[::1] rhs = rhs_arr
    cdef int[::1] cols = cols_arr
    cdef double[::1] vals = vals_arr
    cdef Py_ssize_t p[3]
    cdef Py_ssize_t q[3]
    cdef Py_ssize_t row = 0, k = 0, kdiag, gpos
    cdef int side
    cdef double s, t, c, diag
    with nogil:
        for p[0] in range(o[0], o[0] + m[0]):
            for p[1] in range(o[1], o[1] + m[1]):
                for p[2] in range(o[2], o[2] + m[2]):
                    s = sigma[p[0], p[1], p[2]]
                    kdiag = k
                    cols[k] = gnum[p[0], p[1], p[2]]
                    k += 1
                    diag = 0.0
                    if s > 0.0:
                        for d in range(3):
                            for side in range(2):
                                q[0] = p[0]
                                q[1] = p[1]
                                q[2] = p[2]
                                q[d] += 2 * side - 1
                                gpos = gs[d] + q[d]
                                if gpos < 0 or gpos >= nv[d]:
                                    if d == axis:  # Dirichlet face, half a voxel away
                                        c = 2.0 * s * cond[d]
                                        diag += c
                                        rhs[row] += c * (u_in if side == 0 else u_out)
                                    continue
                                t = sigma[q[0], q[1], q[2]]
                                if t > 0.0:
                                    c = 2.0 * s * t / (s + t) * cond[d]
                                    diag += c
                                    cols[k] = gnum[q[0], q[1], q[2]]
                                    vals[k] = -c
                                    k += 1
                    if diag == 0.0:
                        diag = 1.0  # outside the phase (or isolated): u = 0
                    vals[kdiag] = diag
                    sort_row(&cols[kdiag], &vals[kdiag], k - kdiag)
                    row += 1
                    indptr[row] = <int>k
    return indptr_arr, cols_arr[:k].copy(), vals_arr[:k].copy(), rhs_arr
