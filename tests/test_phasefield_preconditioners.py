"""Named Li preconditioners: each reaches the direct-solve state, and the φ split really gets BoomerAMG."""
import numpy as np
import pytest
import scipy.sparse

petsc4py = pytest.importorskip("petsc4py")


def _solver(options, comm):
    """A small Li deposition problem with backward-Euler 1 ms steps, at its initial state."""
    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    model = LiDeposition.from_physical(LiPhysical(), 2, front=6.0, nuclei=[(8.0, 2.0)])
    grid = Grid(comm, (24, 16), (1.0, 1.0), 3, faces=model.faces(), field_names=model.fields)
    base = {"ts_type": "beuler", "ts_adapt_type": "none", "snes_rtol": "1e-10", "snes_atol": "1e-10",
            "ksp_rtol": "1e-10"}
    s = PhaseFieldSolver(comm, grid, model, options={**base, **options})
    s.set_state(model.initial_state(grid))
    return s, grid


def _step(s):
    """Three steps after the consistent start."""
    s.make_consistent()
    s.advance(0.003, 1e-3, 1e-3)


def _run(options, comm=None):
    from mpi4py import MPI

    comm = comm or MPI.COMM_SELF
    s, grid = _solver(options, comm)
    _step(s)
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


@pytest.mark.parametrize("name", ["schur_a11_hypre", "fieldsplit_hypre",
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


def test_two_live_solvers_under_one_prefix_keep_their_own_options():
    """A solver's defaults are in PETSc's options database only while it calls into PETSc: the second solver
    must not take the first one's split for the user's (it did until session 9 and silently ran a field split)."""
    from mpi4py import MPI

    from bda_hpc.phasefield.preconditioners import li_solver_options

    split, split_grid = _solver(li_solver_options("fieldsplit_hypre"), MPI.COMM_SELF)
    direct, direct_grid = _solver({"ksp_type": "preonly", "pc_type": "lu"}, MPI.COMM_SELF)
    for s in (split, direct):
        _step(s)
    split_pc, direct_pc = (s.ts.getSNES().getKSP().getPC() for s in (split, direct))
    assert direct_pc.getType() == "lu"
    assert split_pc.getType() == "fieldsplit"
    assert split_pc.getFieldSplitSubKSP()[1].getPC().getType() == "hypre"
    np.testing.assert_allclose(split.state(), direct.state(), rtol=0, atol=1e-6 * np.abs(direct.state()).max())
    for obj in (split, direct, split_grid, direct_grid):
        obj.destroy()
