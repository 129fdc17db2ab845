# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Periodic cell-list neighbour search for atoms in any triclinic cell.

Bins are laid out in fractional coordinates, with a bin at least as wide as
the cutoff measured between lattice planes, so every neighbour lies in a bin
whose index differs by at most ``ceil(rc * |b_k| * m_k)`` along axis k (b_k
the reciprocal vector, m_k the bin count). That bound also covers cells
smaller than twice the cutoff, where an atom sees several images of another.
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport floor, ceil, sqrt
from libc.stdlib cimport malloc, realloc, free

cnp.import_array()


cdef struct PairBuffer:
    Py_ssize_t n
    Py_ssize_t cap
    int *i
    int *j
    int *shift          # 3 per pair
    double *vec         # 3 per pair: r_j + shift @ cell - r_i


cdef int _grow(PairBuffer *buf) except -1 nogil:
    cdef Py_ssize_t cap = buf.cap * 2 + 1024
    cdef int *ni = <int *> realloc(buf.i, cap * sizeof(int))
    cdef int *nj = <int *> realloc(buf.j, cap * sizeof(int))
    cdef int *ns = <int *> realloc(buf.shift, 3 * cap * sizeof(int))
    cdef double *nv = <double *> realloc(buf.vec, 3 * cap * sizeof(double))
    if ni != NULL:
        buf.i = ni
    if nj != NULL:
        buf.j = nj
    if ns != NULL:
        buf.shift = ns
    if nv != NULL:
        buf.vec = nv
    if ni == NULL or nj == NULL or ns == NULL or nv == NULL:
        with gil:
            raise MemoryError("neighbour list: out of memory")
    buf.cap = cap
    return 0


def neighbor_list(double[:, ::1] positions, double[:, ::1] cell, double cutoff, pbc=(True, True, True)):
    """Full neighbour list within ``cutoff`` (each pair appears as i->j and j->i).

    Returns ``(i, j, shift, vec)``: int32 index arrays, int32 image shifts
    (n_pairs x 3, ``r_j + shift @ cell`` is the neighbour image) and float64
    distance vectors (n_pairs x 3). Non-periodic axes get no images.
    """
    cdef Py_ssize_t natoms = positions.shape[0]
    if cell.shape[0] != 3 or cell.shape[1] != 3:
        raise ValueError("cell must be 3x3")
    if positions.shape[1] != 3:
        raise ValueError("positions must be N x 3")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    cell_np = np.asarray(cell)
    volume = abs(np.linalg.det(cell_np))
    if volume < 1e-10:
        raise ValueError(f"cell has zero volume (det = {volume:.3g})")
    recip = np.linalg.inv(cell_np).T            # rows b_k with a_i . b_k = delta_ik
    cdef double[:, ::1] inv = np.ascontiguousarray(np.linalg.inv(cell_np))
    cdef int periodic[3]
    cdef int nbins[3]
    cdef int reach[3]
    cdef int k
    cdef double width
    for k in range(3):
        periodic[k] = 1 if pbc[k] else 0
        width = 1.0 / np.linalg.norm(recip[k])  # distance between lattice planes
        nbins[k] = max(1, <int> floor(width / cutoff))
        reach[k] = <int> ceil(cutoff / width * nbins[k])
    # Fractional coordinates wrapped into [0, 1) on periodic axes; the
    # integer part goes into each atom's own image offset.
    frac_np = np.asarray(positions) @ np.asarray(inv)
    offset_np = np.zeros((natoms, 3), dtype=np.intc)
    for k in range(3):
        if periodic[k]:
            offset_np[:, k] = np.floor(frac_np[:, k]).astype(np.intc)
            frac_np[:, k] -= offset_np[:, k]
        else:
            lo, hi = frac_np[:, k].min(), frac_np[:, k].max()
            span = max(hi - lo, 1e-12)
            frac_np[:, k] = (frac_np[:, k] - lo) / span * (1 - 1e-12)
            # bins span the atoms' extent, each at least a cutoff wide
            nbins[k] = max(1, <int> floor(span / np.linalg.norm(recip[k]) / cutoff))
            reach[k] = 1
    cdef double[:, ::1] frac = frac_np
    cdef int[:, ::1] offset = offset_np
    cdef Py_ssize_t total_bins = nbins[0] * nbins[1] * nbins[2]
    bin_of_np = np.empty(natoms, dtype=np.intp)
    cdef Py_ssize_t[::1] bin_of = bin_of_np
    cdef Py_ssize_t a, b0, b1, b2
    for a in range(natoms):
        b0 = min(<Py_ssize_t> (frac[a, 0] * nbins[0]), nbins[0] - 1)
        b1 = min(<Py_ssize_t> (frac[a, 1] * nbins[1]), nbins[1] - 1)
        b2 = min(<Py_ssize_t> (frac[a, 2] * nbins[2]), nbins[2] - 1)
        bin_of[a] = (b0 * nbins[1] + b1) * nbins[2] + b2
    order_np = np.argsort(bin_of_np, kind="stable").astype(np.intp)
    start_np = np.searchsorted(bin_of_np[order_np], np.arange(total_bins + 1)).astype(np.intp)
    cdef Py_ssize_t[::1] order = order_np
    cdef Py_ssize_t[::1] start = start_np
    cdef double[:, ::1] pos = positions
    cdef double[:, ::1] cellv = cell
    cdef double rc2 = cutoff * cutoff
    cdef PairBuffer buf
    buf.n = 0
    buf.cap = 0
    buf.i = NULL
    buf.j = NULL
    buf.shift = NULL
    buf.vec = NULL
    cdef Py_ssize_t i, j, q, nb, c0, c1, c2
    cdef int d0, d1, d2, w0, w1, w2, s0, s1, s2
    cdef double x0, x1, x2, r2
    try:
        _grow(&buf)
        with nogil:
            for i in range(natoms):
                b0 = bin_of[i] // (nbins[1] * nbins[2])
                b1 = (bin_of[i] // nbins[2]) % nbins[1]
                b2 = bin_of[i] % nbins[2]
                for d0 in range(-reach[0], reach[0] + 1):
                    c0 = b0 + d0
                    if not periodic[0] and (c0 < 0 or c0 >= nbins[0]):
                        continue
                    w0 = <int> floor(<double> c0 / nbins[0])
                    c0 = c0 - w0 * nbins[0]
                    for d1 in range(-reach[1], reach[1] + 1):
                        c1 = b1 + d1
                        if not periodic[1] and (c1 < 0 or c1 >= nbins[1]):
                            continue
                        w1 = <int> floor(<double> c1 / nbins[1])
                        c1 = c1 - w1 * nbins[1]
                        for d2 in range(-reach[2], reach[2] + 1):
                            c2 = b2 + d2
                            if not periodic[2] and (c2 < 0 or c2 >= nbins[2]):
                                continue
                            w2 = <int> floor(<double> c2 / nbins[2])
                            c2 = c2 - w2 * nbins[2]
                            nb = (c0 * nbins[1] + c1) * nbins[2] + c2
                            for q in range(start[nb], start[nb + 1]):
                                j = order[q]
                                # image of j in the wrapped frame, then back to the caller's frame
                                s0 = w0 + offset[i, 0] - offset[j, 0]
                                s1 = w1 + offset[i, 1] - offset[j, 1]
                                s2 = w2 + offset[i, 2] - offset[j, 2]
                                if j == i and s0 == 0 and s1 == 0 and s2 == 0:
                                    continue
                                x0 = pos[j, 0] + s0 * cellv[0, 0] + s1 * cellv[1, 0] + s2 * cellv[2, 0] - pos[i, 0]
                                x1 = pos[j, 1] + s0 * cellv[0, 1] + s1 * cellv[1, 1] + s2 * cellv[2, 1] - pos[i, 1]
                                x2 = pos[j, 2] + s0 * cellv[0, 2] + s1 * cellv[1, 2] + s2 * cellv[2, 2] - pos[i, 2]
                                r2 = x0 * x0 + x1 * x1 + x2 * x2
                                if r2 >= rc2:
                                    continue
                                if buf.n == buf.cap:
                                    _grow(&buf)
                                buf.i[buf.n] = <int> i
                                buf.j[buf.n] = <int> j
                                buf.shift[3 * buf.n] = s0
                                buf.shift[3 * buf.n + 1] = s1
                                buf.shift[3 * buf.n + 2] = s2
                                buf.vec[3 * buf.n] = x0
                                buf.vec[3 * buf.n + 1] = x1
                                buf.vec[3 * buf.n + 2] = x2
                                buf.n += 1
        n = buf.n
        out_i = np.array(<int[:n]> buf.i if n else np.empty(0, np.intc), dtype=np.int32)
        out_j = np.array(<int[:n]> buf.j if n else np.empty(0, np.intc), dtype=np.int32)
        out_s = np.array(<int[:3 * n]> buf.shift if n else np.empty(0, np.intc), dtype=np.int32).reshape(n, 3)
        out_v = np.array(<double[:3 * n]> buf.vec if n else np.empty(0), dtype=np.float64).reshape(n, 3)
    finally:
        free(buf.i)
        free(buf.j)
        free(buf.shift)
        free(buf.vec)
    return out_i, out_j, out_s, out_v
