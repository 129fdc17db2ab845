"""Named Li preconditioners: each reaches the direct-solve state, and the φ split really gets BoomerAMG."""
import numpy as np
import pytest
import scipy.sparse

petsc4py = pytest.importorskip("petsc4py")


def _run(options):
    from mpi4py import MPI

    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    model = LiDeposition.from_physical(LiPhysical(), 2, front=6.0, nuclei=[(8.0, 2.0)])
    grid = Grid(MPI.COMM_SELF, (24, 16), (1.0, 1.0), 3, faces=model.faces(), field_names=model.fields)
    base = {"ts_type": "beuler", "ts_adapt_type": "none", "snes_rtol": "1e-10", "snes_atol": "1e-10",
            "ksp_rtol": "1e-10"}
    s = PhaseFieldSolver(MPI.COMM_SELF, grid, model, options={**base, **options})
    s.set_state(model.initial_state(grid))
    s.make_consistent()
    s.advance(0.003, 1e-3, 1e-3)
    pc = s.ts.getSNES().getKSP().getPC()
    if pc.getType() == "python":  # UnscaledRows: the split is the wrapped PC
        pc = pc.getPythonContext().inner
    phi = None
    if pc.getType() == "fieldsplit":
        phi_pc = pc.getFieldSplitSubKSP()[1].getPC()
        indptr, columns, values = phi_pc.getOperators()[1].getValuesCSR()
        matrix = scipy.sparse.csr_matrix((values, columns, indptr))
        phi = {"pc": phi_pc.getType(), "hypre": phi_pc.getHYPREType() if phi_pc.getType() == "hypre" else None,
               "asymmetry": abs(matrix - matrix.T).max() / abs(matrix).max()}
    state = s.state()
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
