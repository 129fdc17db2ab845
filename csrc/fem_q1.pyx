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

include "fem/sort_row.pxi"


cdef inline unsigned int _row(const double[:, :, ::1] sigma, const double[:, :, ::1] source, bint has_source,
                              const double *ke, const double *me, const int *slot_of, const unsigned int *pattern,
                              Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t p2, bint values,
                              double *acc, double *load) noexcept nogil:
    """The 27-point stencil of node p: returns its pattern (bit = slot); with ``values`` also
    accumulates the entries into acc and the source load into load[0]."""
    cdef Py_ssize_t n0 = sigma.shape[0], n1 = sigma.shape[1], n2 = sigma.shape[2]
    cdef Py_ssize_t e0, e1, e2
    cdef int a, b
    cdef unsigned int used = 0
    cdef double s
    if values:
        for b in range(27):
            acc[b] = 0.0
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
                if s != 0.0:
                    used |= pattern[a]
                    if values:
                        for b in range(8):
                            acc[slot_of[a * 8 + b]] += s * ke[a * 8 + b]
                if values and has_source:
                    for b in range(8):
                        load[0] += me[a * 8 + b] * source[e0 + (b >> 2), e1 + ((b >> 1) & 1), e2 + (b & 1)]
    return used


def q1_rows(const double[:, :, ::1] sigma not None, const int[:, :, ::1] gnum not None,
            const double[:, :, ::1] fixed not None, const double[:, :, ::1] source not None,
            const double[:, ::1] ke not None, const double[:, ::1] me not None,
            owned_start, owned_shape):
    """CSR rows (indptr, global columns ascending in each row, values) and right-hand side of the owned nodes.

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

    # Element corner a couples to corner b through stencil slot slot_of[a, b] of a's node;
    # pattern[a] has a bit for every slot where ke[a, b] != 0 (the structural non-zeros).
    ke_c = np.ascontiguousarray(ke, dtype=np.float64).ravel()
    me_c = np.ascontiguousarray(me, dtype=np.float64).ravel()
    slot_arr = np.empty(64, dtype=np.int32)
    pattern_arr = np.zeros(8, dtype=np.uint32)
    for a in range(8):
        for b in range(8):
            slot_arr[a * 8 + b] = ((b >> 2) - (a >> 2) + 1) * 9 + (((b >> 1) & 1) - ((a >> 1) & 1) + 1) * 3 \
                + ((b & 1) - (a & 1) + 1)
            if ke_c[a * 8 + b] != 0.0:
                pattern_arr[a] |= 1 << slot_arr[a * 8 + b]
    cdef double[::1] ke_v = ke_c
    cdef double[::1] me_v = me_c
    cdef int[::1] slot_of = slot_arr
    cdef unsigned int[::1] pattern = pattern_arr
    cdef unsigned int used

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
    cdef Py_ssize_t kstart

    # Pass 1 counts the entries of each row from the sparsity pattern alone, pass 2 fills
    # exactly sized arrays (a 27-per-row bound would double peak memory on large images).
    # Both passes keep every structural non-zero, even one that cancels to 0.0.
    with nogil:
        row = 0
        nnz = 0
        for p0 in range(o0, o0 + m0):
            for p1 in range(o1, o1 + m1):
                for p2 in range(o2, o2 + m2):
                    used = _row(sigma, source, False, &ke_v[0], &me_v[0], &slot_of[0], &pattern[0],
                                p0, p1, p2, False, acc, &load)
                    if not isnan(fixed[p0, p1, p2]) or not (used >> 13) & 1:
                        nnz += 1
                    else:
                        for slot in range(27):
                            if (used >> slot) & 1:
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
                    used = _row(sigma, source, has_source, &ke_v[0], &me_v[0], &slot_of[0], &pattern[0],
                                p0, p1, p2, True, acc, &load)
                    kstart = k
                    diag = acc[13]
                    if not (used >> 13) & 1:
                        diag = 0.0
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
                            if (used >> slot) & 1:
                                q0 = p0 + slot // 9 - 1
                                q1 = p1 + (slot // 3) % 3 - 1
                                q2 = p2 + slot % 3 - 1
                                if isnan(fixed[q0, q1, q2]):
                                    cols[k] = gnum[q0, q1, q2]
                                    vals[k] = acc[slot]
                                    k += 1
                                else:
                                    rhs[row] -= acc[slot] * fixed[q0, q1, q2]
                    sort_row(&cols[kstart], &vals[kstart], k - kstart)
                    row += 1
    return indptr_arr, cols_arr, vals_arr, rhs_arr
