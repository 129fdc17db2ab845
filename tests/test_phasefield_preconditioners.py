"""Named Li preconditioners: each reaches the direct-solve state, and the φ split really gets BoomerAMG."""
import numpy as np
import pytest
import scipy.sparse

petsc4py = pytest.importorskip("petsc4py")


def _run(options, comm=None):
    from mpi4py import MPI

    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    model = LiDeposition.from_physical(LiPhysical(), 2, front=6.0, nuclei=[(8.0, 2.0)])
    comm = comm or MPI.COMM_SELF
    grid = Grid(comm, (24, 16), (1.0, 1.0), 3, faces=model.faces(), field_names=model.fields)
    base = {"ts_type": "beuler", "ts_adapt_type": "none", "snes_rtol": "1e-10", "snes_atol": "1e-10",
            "ksp_rtol": "1e-10"}
    s = PhaseFieldSolver(comm, grid, model, options={**base, **options})
    s.set_state(model.initial_state(grid))
    s.make_consistent()
    s.advance(0.003, 1e-3, 1e-3)
    pc = s.ts.getSNES().getKSP().getPC()
    if pc.getType() == "python":  # UnscaledRows: the split is the wrapped PC
        pc = pc.getPythonContext().inner
    phi = None
    if pc.getType() == "fieldsplit":
        phi_pc = pc.getFieldSplitSubKSP()[1].getPC()
        phi = {"pc": phi_pc.getType(), "hypre": phi_pc.getHYPREType() if phi_pc.getType() == "hypre" else None}
        if comm.size == 1:  # the whole φ block is local
            indptr, columns, values = phi_pc.getOperators()[1].getValuesCSR()
            matrix = scipy.sparse.csr_matrix((values, columns, indptr))
            phi["asymmetry"] = abs(matrix - matrix.T).max() / abs(matrix).max()
    state = np.zeros((1, 16, 24, 3))  # the whole grid, gathered
    for (z0, y0, x0), part in comm.allgather((grid.own_start, s.state())):
        state[z0:z0 + part.shape[0], y0:y0 + part.shape[1], x0:x0 + part.shape[2]] = part
    s.destroy()
    grid.destroy()
    return state, phi


@pytest.mark.parametrize("name", ["schur_a11_hypre", "schur_a11_hypre_inner", "fieldsplit_hypre",
                                  "unscaled_schur_a11_hypre", "unscaled_schur_a11_hypre_asm"])
def test_field_split_preconditioners_reach_the_direct_solution(name):
    from bda_hpc.phasefield.preconditioners import li_solver_options

    reference, _ = _run({"ksp_type": "preonly", "pc_type": "lu"})
    state, phi = _run(li_solver_options(name))
    # with the options under fieldsplit_1_* it silently was ILU
    assert phi["pc"] == "hypre" and phi["hypre"] == "boomeramg"
    # the point of UnscaledRows: BoomerAMG gets the symmetric σ-Laplacian, not its σ-row-scaled form
    assert (phi["asymmetry"] < 1e-12) == name.startswith("unscaled_")
    scale = np.abs(reference).max(axis=(0, 1, 2))
    assert np.all(np.abs(state - reference).max(axis=(0, 1, 2)) <= 1e-6 * scale)


@pytest.mark.mpi
def test_unscaled_split_on_two_ranks_reaches_the_one_rank_direct_solution(comm):
    from bda_hpc.phasefield.preconditioners import li_solver_options

    reference, _ = _run({"ksp_type": "preonly", "pc_type": "lu"})
    state, phi = _run(li_solver_options("unscaled_schur_a11_hypre_asm"), comm)
    assert phi["pc"] == "hypre"
    scale = np.abs(reference).max(axis=(0, 1, 2))
    assert np.all(np.abs(state - reference).max(axis=(0, 1, 2)) <= 1e-6 * scale)
