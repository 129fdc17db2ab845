# Shared by the fem row kernels (``include "fem/sort_row.pxi"``).

cdef inline void sort_row(int *cols, double *vals, Py_ssize_t n) noexcept nogil:
    """Insertion sort of one CSR row by column (at most 27 entries): PETSc's
    no-copy matrix constructors expect ascending columns in every row."""
    cdef Py_ssize_t i, j
    cdef int c
    cdef double v
    for i in range(1, n):
        c = cols[i]
        v = vals[i]
        j = i - 1
        while j >= 0 and cols[j] > c:
            cols[j + 1] = cols[j]
            vals[j + 1] = vals[j]
            j -= 1
        cols[j + 1] = c
        vals[j + 1] = v
