"""Named PETSc preconditioner settings for the Li model (``-pf_*`` option dicts), compared in a study.

The Li Jacobian has three fields per cell (ξ, c, φ). The φ rows are a
variable-coefficient Laplacian whose conductivity jumps by 10⁷ across the
interface (rows scaled by the cell's own σ, see :mod:`li_deposition`); the
(ξ, c) rows are dominated by the time derivative at the step sizes a dendrite
run takes (D_l dt/h² ≈ 0.3 at dt = 1 ms, h = 1 µm), so a local ILU solves
them well on any grid, while φ needs multigrid to stay grid-independent.

Study (benchmarks/pf_scaling.py --pc-study, results/pf_pc_study_grid.json;
2 backward-Euler steps of 1 ms on the 2D problem with one nucleus, CPU s):
see the ``PC_STUDY`` notes in that JSON and benchmarks/README.md. Findings
that chose the default:

* Field names matter: PETSc names a one-field split after the field, so the
  φ split's options are ``fieldsplit_phi_*``. Session 2's ``fieldsplit_1_*``
  were silently ignored and "hypre on φ" was really GMRES + ILU (which does not
  scale with the grid: 1024² did not finish two steps in 8 minutes).
* ``schur_precondition a11`` (precondition the Schur complement with the φ
  block itself) has the same iteration count as ``selfp`` but skips the
  sparse triple product: half the CPU time at 256².
* ILU on (ξ, c) is not the limit: an exact LU there gives the same iteration
  count; the AMG V-cycle on the row-scaled φ block is.
"""
from __future__ import annotations

_SPLIT = {"pc_type": "fieldsplit", "pc_fieldsplit_0_fields": "0,1", "pc_fieldsplit_1_fields": "2",
          "fieldsplit_0_ksp_type": "preonly", "fieldsplit_0_pc_type": "bjacobi", "fieldsplit_0_sub_pc_type": "ilu",
          "fieldsplit_phi_ksp_type": "preonly", "fieldsplit_phi_pc_type": "hypre"}
_SCHUR = {**_SPLIT, "ksp_type": "fgmres", "pc_fieldsplit_type": "schur", "pc_fieldsplit_schur_fact_type": "full"}

LI_PRECONDITIONERS = {
    "asm_lu": {"ksp_type": "gmres", "pc_type": "asm", "sub_pc_type": "lu"},
    "bjacobi_ilu": {"ksp_type": "gmres", "pc_type": "bjacobi", "sub_pc_type": "ilu"},
    # multiplicative block Gauss–Seidel (ξ,c) → φ, ILU | BoomerAMG
    "fieldsplit_hypre": {**_SPLIT, "ksp_type": "gmres", "pc_fieldsplit_type": "multiplicative"},
    # full Schur factorisation, S preconditioned from A11 - A10 diag(A00)⁻¹ A01 (an extra sparse product)
    "schur_selfp_hypre": {**_SCHUR, "pc_fieldsplit_schur_precondition": "selfp"},
    # the same with S preconditioned from the φ block alone: one V-cycle per outer iteration
    "schur_a11_hypre": {**_SCHUR, "pc_fieldsplit_schur_precondition": "a11"},
    # ... and an inner GMRES on φ to 1e-2: outer iterations independent of the grid, more V-cycles each
    "schur_a11_hypre_inner": {**_SCHUR, "pc_fieldsplit_schur_precondition": "a11",
                              "fieldsplit_phi_ksp_type": "gmres", "fieldsplit_phi_ksp_rtol": "1e-2"},
}


def li_solver_options(name: str) -> dict:
    """Options for the time steps and, under ``init_``, the same preconditioner for the consistent start.

    The consistent start (:meth:`PhaseFieldSolver.make_consistent`) defaults to a direct LU, which does
    not fit at 128³; with ξ and c held its Jacobian is block-triangular, so the field split is exact there.
    """
    options = dict(LI_PRECONDITIONERS[name])
    if name != "asm_lu":
        options.update({"init_" + key: value for key, value in LI_PRECONDITIONERS[name].items()})
    return options
