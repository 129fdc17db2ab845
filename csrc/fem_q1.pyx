# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Row-wise assembly of voxel (Q1 hexahedral) conduction matrices on a structured node grid.

Nodes sit at voxel corners; element ``e = (e0, e1, e2)`` has its lower corner at
node ``e`` and coefficient ``sigma[e]``. A rank builds the rows of the nodes it
owns from the (at most 8) elements around each node, so no entry ever has to be
sent to another rank: an element on a partition boundary is evaluated by each
rank that owns one of its nodes. Corner ``b`` of an element is the node
``e + (b >> 2, (b >> 1) & 1, b & 1)``, the order of ``bda_hpc.fem.q1``.

Dirichlet nodes (``fixed`` not NaN) become rows ``d * u = d * value`` with ``d``
the row's own diagonal, and their columns are moved to the right-hand side, so
the matrix stays symmetric positive definite for CG. Nodes that touch no
conducting element get an identity row (they are outside the phase).

The slow twin is ``tests/test_fem_q1.py::reference_system`` (scipy, element by element).
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport isnan

cnp.import_array()


cdef inline int _row(const double[:, :, ::1] sigma, const double[:, :, ::1] source, bint has_source,
                     const double[:, ::1] ke, const double[:, ::1] me,
                     Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t p2, double *acc, double *load) noexcept nogil:
    """Accumulate the 27-point stencil of node p into acc and its source load into load[0]."""
    cdef Py_ssize_t n0 = sigma.shape[0], n1 = sigma.shape[1], n2 = sigma.shape[2]
    cdef Py_ssize_t e0, e1, e2
    cdef int a, b, b0, b1, b2, slot
    cdef double s
    for slot in range(27):
        acc[slot] = 0.0
    load[0] = 0.0
    for e0 in range(p0 - 1, p0 + 1):
        if e0 < 0 or e0 >= n0:
            continue
        for e1 in range(p1 - 1, p1 + 1):
            if e1 < 0 or e1 >= n1:
                continue
            for e2 in range(p2 - 1, p2 + 1):
                if e2 < 0 or e2 >= n2:
                    continue
                a = <int>(p0 - e0) * 4 + <int>(p1 - e1) * 2 + <int>(p2 - e2)
                s = sigma[e0, e1, e2]
                for b in range(8):
                    b0 = b >> 2
                    b1 = (b >> 1) & 1
                    b2 = b & 1
                    if s != 0.0:
                        slot = <int>(e0 + b0 - p0 + 1) * 9 + <int>(e1 + b1 - p1 + 1) * 3 + <int>(e2 + b2 - p2 + 1)
                        acc[slot] += s * ke[a, b]
                    if has_source:
                        load[0] += me[a, b] * source[e0 + b0, e1 + b1, e2 + b2]
    return 0


def q1_rows(const double[:, :, ::1] sigma not None, const int[:, :, ::1] gnum not None,
            const double[:, :, ::1] fixed not None, const double[:, :, ::1] source not None,
            const double[:, ::1] ke not None, const double[:, ::1] me not None,
            owned_start, owned_shape):
    """CSR rows (indptr, global columns, values) and right-hand side of the owned nodes.

    sigma: (g0-1, g1-1, g2-1) element coefficients of the ghosted node box (g0, g1, g2);
    gnum: global (PETSc) number of each ghosted node; fixed: Dirichlet value or NaN;
    source: nodal source values, or an array of shape (0, 0, 0) for none;
    ke, me: 8x8 element stiffness and mass; owned_start/owned_shape: the owned nodes
    inside the ghosted box. Rows come in C order over the owned box (PETSc's local order).
    """
    cdef Py_ssize_t o0 = owned_start[0], o1 = owned_start[1], o2 = owned_start[2]
    cdef Py_ssize_t m0 = owned_shape[0], m1 = owned_shape[1], m2 = owned_shape[2]
    cdef Py_ssize_t g0 = gnum.shape[0], g1 = gnum.shape[1], g2 = gnum.shape[2]
    if (sigma.shape[0], sigma.shape[1], sigma.shape[2]) != (g0 - 1, g1 - 1, g2 - 1):
        raise ValueError(f"sigma has shape {(sigma.shape[0], sigma.shape[1], sigma.shape[2])}, expected {(g0 - 1, g1 - 1, g2 - 1)}")
    if (fixed.shape[0], fixed.shape[1], fixed.shape[2]) != (g0, g1, g2):
        raise ValueError("fixed must have the ghosted node shape")
    cdef bint has_source = source.shape[0] > 0
    if has_source and (source.shape[0], source.shape[1], source.shape[2]) != (g0, g1, g2):
        raise ValueError("source must have the ghosted node shape or (0, 0, 0)")
    if ke.shape[0] != 8 or ke.shape[1] != 8 or me.shape[0] != 8 or me.shape[1] != 8:
        raise ValueError("ke and me must be 8x8")
    if o0 < 0 or o1 < 0 or o2 < 0 or o0 + m0 > g0 or o1 + m1 > g1 or o2 + m2 > g2:
        raise ValueError("owned box lies outside the ghosted box")

    cdef Py_ssize_t nrows = m0 * m1 * m2
    indptr_arr = np.zeros(nrows + 1, dtype=np.int32)
    rhs_arr = np.zeros(nrows, dtype=np.float64)
    cdef int[::1] indptr = indptr_arr
    cdef double[::1] rhs = rhs_arr
    cdef double acc[27]
    cdef double load = 0.0
    cdef Py_ssize_t p0, p1, p2, q0, q1, q2, row, nnz, k
    cdef int slot
    cdef double diag

    # Pass 1 counts the entries of each row, pass 2 fills exactly sized arrays
    # (a 27-per-row upper bound would double peak memory on large images).
    with nogil:
        row = 0
        nnz = 0
        for p0 in range(o0, o0 + m0):
            for p1 in range(o1, o1 + m1):
                for p2 in range(o2, o2 + m2):
                    _row(sigma, source, False, ke, me, p0, p1, p2, acc, &load)
                    if not isnan(fixed[p0, p1, p2]) or acc[13] == 0.0:
                        nnz += 1
                    else:
                        for slot in range(27):
                            if acc[slot] != 0.0:
                                q0 = p0 + slot // 9 - 1
                                q1 = p1 + (slot // 3) % 3 - 1
                                q2 = p2 + slot % 3 - 1
                                if isnan(fixed[q0, q1, q2]):
                                    nnz += 1
                    row += 1
                    indptr[row] = <int>nnz
    cols_arr = np.empty(nnz, dtype=np.int32)
    vals_arr = np.empty(nnz, dtype=np.float64)
    cdef int[::1] cols = cols_arr
    cdef double[::1] vals = vals_arr
    with nogil:
        row = 0
        k = 0
        for p0 in range(o0, o0 + m0):
            for p1 in range(o1, o1 + m1):
                for p2 in range(o2, o2 + m2):
                    _row(sigma, source, has_source, ke, me, p0, p1, p2, acc, &load)
                    diag = acc[13]
                    if not isnan(fixed[p0, p1, p2]):
                        if diag == 0.0:
                            diag = 1.0
                        cols[k] = gnum[p0, p1, p2]
                        vals[k] = diag
                        rhs[row] = diag * fixed[p0, p1, p2]
                        k += 1
                    elif diag == 0.0:
                        cols[k] = gnum[p0, p1, p2]
                        vals[k] = 1.0
                        rhs[row] = 0.0
                        k += 1
                    else:
                        rhs[row] = load
                        for slot in range(27):
                            if acc[slot] != 0.0:
                                q0 = p0 + slot // 9 - 1
                                q1 = p1 + (slot // 3) % 3 - 1
                                q2 = p2 + slot % 3 - 1
                                if isnan(fixed[q0, q1, q2]):
                                    cols[k] = gnum[q0, q1, q2]
                                    vals[k] = acc[slot]
                                    k += 1
                                else:
                                    rhs[row] -= acc[slot] * fixed[q0, q1, q2]
                    row += 1
    return indptr_arr, cols_arr, vals_arr, rhs_arr
