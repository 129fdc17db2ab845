"""COO assembly through PETSc's C API: repeated entries are summed, every call overwrites, sizes are checked."""
import numpy as np
import pytest


def _matrix(n):
    from petsc4py import PETSc

    mat = PETSc.Mat().create(comm=PETSc.COMM_SELF)
    mat.setSizes(((n, n), (n, n)))
    mat.setType(PETSc.Mat.Type.AIJ)
    lgmap = PETSc.LGMap().create(np.arange(n, dtype=PETSc.IntType), comm=PETSc.COMM_SELF)
    mat.setLGMap(lgmap, lgmap)
    return mat


def test_values_sum_repeats_and_overwrite_like_a_dense_assembly():
    from bda_hpc.petsc_coo import preallocate_local, set_values

    rng = np.random.default_rng(3)
    rows = np.array([0, 0, 1, 2, 2, 2, 3, 0])  # (0, 1) twice, (2, 2) twice
    cols = np.array([0, 1, 1, 2, 2, 3, 0, 1])
    mat = _matrix(4)
    preallocate_local(mat, rows, cols)
    for _ in range(2):  # the second call must replace the first call's values, not add to them
        values = rng.standard_normal(rows.size)
        set_values(mat, values)
        dense = np.zeros((4, 4))
        np.add.at(dense, (rows, cols), values)
        assert np.allclose(mat.getValues(range(4), range(4)), dense, rtol=0, atol=1e-15)
    assert mat.getInfo()["nz_used"] == 6
    mat.destroy()


def test_a_value_array_of_the_wrong_length_is_refused():
    from bda_hpc.petsc_coo import preallocate_local, set_values

    mat = _matrix(2)
    preallocate_local(mat, np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="3 COO values for a matrix preallocated with 2"):
        set_values(mat, np.ones(3))
    other = _matrix(2)
    with pytest.raises(ValueError, match="differ in length"):
        preallocate_local(other, np.array([0, 1]), np.array([0]))
    for m in (mat, other):
        m.destroy()
