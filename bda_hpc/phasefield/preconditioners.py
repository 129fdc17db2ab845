"""Named PETSc preconditioner settings for the Li model (``-pf_*`` option dicts), compared in a study.

The Li Jacobian has three fields per cell (ξ, c, φ). The φ rows are a
variable-coefficient Laplacian ∇·σ∇ whose conductivity jumps by 10⁷ across the
interface; the residual divides each φ row by its cell's σ(ξ) (see
:mod:`li_deposition`: balanced nonlinear tolerance). The (ξ, c) rows are
dominated by the time derivative at the step sizes a dendrite run takes
(D_l dt/h² ≈ 0.3 at dt = 1 ms, h = 1 µm), so a local ILU solves them well on
any grid, while φ needs multigrid to stay grid-independent.

**The stage's default: ``unscaled_schur_a11_hypre_asm``** — :class:`UnscaledRows`
wraps a Schur field split (ξ,c | φ), full factorisation, S preconditioned by
the φ block (a11), ASM (overlap 1) / ILU on (ξ,c) and one BoomerAMG V-cycle
(strong threshold 0.5) on φ. The wrapper builds the split on the unscaled rows
σ·J, whose φ block is the symmetric σ-Laplacian, and applies it to σ·r: since
J⁻¹ = (σJ)⁻¹ σ exactly, nothing else changes (same Newton steps, same residual
norms). Why (benchmarks/pf_scaling.py ``--pc-study``, 2D Li problem with one
nucleus, 2 backward-Euler steps of 1 ms after a warm-up step, 6 Newton steps;
session 4, shared machine at load 2-5, so CPU time; results/pf_pc_study_unscaled_loaded.json,
pf_pc_study_512_ranks_loaded.json, pf_scaling_1024_1rank_loaded.json)::

    preconditioner                  CPU µs per unknown and step       GMRES per Newton step
                                    128²   256²   512²   1024²        128²  256²  512²  1024²   512², 2 ranks
    unscaled_schur_a11_hypre        11.3   12.7   13.5     -          5.2   5.2   5.2    -       7.2
    unscaled_schur_a11_hypre_asm    12.9   13.0   17.0   16.9         5.2   5.2   5.2   5.2      5.3
    schur_a11_hypre_inner (s. 3)    23.0   27.4   31.5    30*         4.0   4.0   4.2   4.0*     -

(* session 3, load 3-5; ``schur_a11_hypre_inner``, an inner GMRES on φ to 1e-2, is no longer offered: it cost
twice the default, and PETSc 3.22 (Debian 13) fails to set up a Krylov solve inside this Schur split -- an
inner GMRES or Richardson on φ, GMRES on (ξ,c) alike: "No method duplicatevecs for Vec of type (null)").
The consistent start at 1024² costs 2 Newton steps and 10 GMRES iterations, 45 CPU s (session 3: ~270 s with
the inner GMRES on the scaled φ block, whose AMG hierarchy was poor). With block-Jacobi/ILU on
(ξ,c) the outer count grows 5.2 → 7.2 from 1 to 2 ranks (the ILU blocks lose
the coupling across the rank boundary); ASM with overlap 1 keeps it at 5.3.
HMIS coarsening with ext+i interpolation was tried in 3D (48³, 1 rank, with the
DMDA's padded matrix): 37 instead of 31 GMRES iterations, same time (session 5
made it the default, below). GAMG on the φ split stops with a PETSc
"not supported" error inside the wrapper, not pursued.

Session 5: the Jacobian now holds only the model's coupling pattern (:meth:`Sparsity.create_matrix`; the
DMDA's matrix had every field's full box stencil, 81 entries per row in 3D where the Li model needs ~21,
all of them carried through sub-matrix extraction, ILU and AMG), and BoomerAMG uses HMIS / ext+i
(P_max 4) / one aggressive level. ILU(0) on the smaller pattern is weaker (GMRES per Newton step 5.2 → 6.7
at 1024², 7.3 at 64³ and 128³; ILU(1) brings 48³ back to 5.3 but costs more time than it saves), each step
is cheaper: 1024² 16.7 → 9.9 µs CPU per unknown and step, 8.9 → 6.1 GB; 64³ 20.7 → 13.2 s per step, 5.2 →
2.5 GB, so 128³ (6.3 M unknowns) fits in 18 GB on this 24 GB machine. Falgout coarsening's set-up did
not speed up at all from 1 to 2 ranks at 64³ (8.5 s of PC set-up on both); with HMIS / ext+i / aggressive
coarsening 64³ and 512² are as fast or faster on 1 rank and faster on 2 (repeats interleaved: this VM
varies ±20 % run to run).

Session-3 study (scaled rows, load 6-8)::

    preconditioner            CPU µs per unknown and step    GMRES per Newton step
                              128²    256²    512²           128²   256²   512²
    schur_a11_hypre           10.8    12.4    17.4           8.8    12.2   24.0
    schur_a11_hypre_inner     17.0    16.1    19.0           4.0     4.0    4.2
    fieldsplit_hypre          10.5    11.8    20.6          10.7    14.3   30.2
    schur_selfp_hypre         14.6    19.1     -             8.8    12.2    -

Findings from it that still hold:

* Field names matter: PETSc names a one-field split after the field, so the
  φ split's options are ``fieldsplit_phi_*`` (``fieldsplit_1_*`` were silently
  ignored in session 2). The consistent start's SNES has no DM, so a plain
  split there is named 0/1; :class:`UnscaledRows` gives its split the DMDA,
  so the names are xi,c / phi in both solves.
* ``schur_precondition a11`` has the same iteration count as ``selfp`` but
  skips the sparse triple product.
* On the scaled rows the BoomerAMG V-cycle loses quality with the grid (24
  GMRES per Newton at 512²); an inner GMRES hid that at twice the cost. On the
  unscaled rows one V-cycle suffices.
"""
from __future__ import annotations

from ..errors import SolverError

ROW_SCALE = "pf_row_scale"  # name under which the solver composes the model's row scale onto its Jacobian
GRID_DM = "pf_grid_dm"  # ... and the grid's DMDA onto that Vec
_SPLIT = {"pc_type": "fieldsplit", "pc_fieldsplit_0_fields": "0,1", "pc_fieldsplit_1_fields": "2",
          "fieldsplit_0_ksp_type": "preonly", "fieldsplit_0_pc_type": "bjacobi", "fieldsplit_0_sub_pc_type": "ilu",
          "fieldsplit_phi_ksp_type": "preonly", "fieldsplit_phi_pc_type": "hypre"}
# BoomerAMG on the symmetric φ block: strength threshold 0.5 (0.25 is the 2D Laplacian default; 0.5 keeps the
# coarse grids sparse in 3D and with the σ jumps); HMIS coarsening, ext+i interpolation with at most 4 entries
# per row and one level of aggressive coarsening: a sparser hierarchy whose set-up also runs in parallel
# (Falgout's did not speed up at all from 1 to 2 ranks at 64³, session 5)
_AMG = {f"fieldsplit_phi_pc_hypre_boomeramg_{k}": v
        for k, v in {"strong_threshold": "0.5", "coarsen_type": "HMIS", "interp_type": "ext+i", "P_max": "4",
                     "agg_nl": "1"}.items()}
_SCHUR = {**_SPLIT, "ksp_type": "fgmres", "pc_fieldsplit_type": "schur", "pc_fieldsplit_schur_fact_type": "full"}


_OUTER_KEYS = ("ksp_",)  # options of the outer Krylov method; everything else belongs to the wrapped PC


def unscaled(options: dict) -> dict:
    """The same solver with its preconditioner built on the unscaled rows (:class:`UnscaledRows`)."""
    outer = {k: v for k, v in options.items() if k.startswith(_OUTER_KEYS)}
    inner = {"unscaled_" + k: v for k, v in options.items() if not k.startswith(_OUTER_KEYS)}
    return {**outer, "pc_type": "python", "pc_python_type": f"{__name__}.UnscaledRows", **inner}


class UnscaledRows:
    """PETSc python PC: precondition a row-scaled Jacobian J = S⁻¹ Ĵ through a PC built on Ĵ = S J.

    The Li model divides each φ row by σ(ξ) of its cell (balanced nonlinear tolerance), which makes the φ
    block D⁻¹L with L the symmetric variable-coefficient Laplacian ∇·σ∇ — a matrix AMG coarsens badly
    (10⁷ contrast in the row scale). Since J⁻¹ = Ĵ⁻¹ S exactly, this PC applies ``inner(S x)`` with the
    inner PC (options prefix ``<prefix>unscaled_``, e.g. ``-pf_unscaled_pc_type fieldsplit``) set up on Ĵ,
    whose φ block is L itself. S comes from the Jacobian (composed as :data:`ROW_SCALE` by the solver).
    """

    def __init__(self):
        self.inner = self.unscaled = self.scale = self.work = None

    def setUp(self, pc):
        from petsc4py import PETSc

        _, P = pc.getOperators()
        scale = P.query(ROW_SCALE)
        if scale is None:
            raise SolverError("UnscaledRows preconditioner: the matrix carries no row scale (the model has no "
                              "row_scale)", collective=True)
        if self.inner is None:
            self.unscaled = P.duplicate(copy=True)
            self.work = scale.duplicate()
            self.scale = scale.duplicate()
            self.inner = PETSc.PC().create(pc.comm)
            self.inner.setOptionsPrefix((pc.getOptionsPrefix() or "") + "unscaled_")
            # the grid's DMDA names the fields of a split (xi, c, phi), also for the consistent start's SNES,
            # which has no DM (petsc4py 3.18's PC.getDM crashes there, Vec.getDM drops a reference)
            self.inner.setDM(scale.query(GRID_DM))
            self.inner.setOperators(self.unscaled, self.unscaled)
            self.inner.setFromOptions()
        else:
            P.copy(self.unscaled, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        scale.copy(self.scale)  # the scale of this matrix, also while a lagged PC is reused at later states
        self.unscaled.diagonalScale(L=self.scale)
        self.inner.setUp()

    def apply(self, pc, x, y):
        self.work.pointwiseMult(x, self.scale)
        self.inner.apply(self.work, y)

    def view(self, pc, viewer):
        if self.inner is not None:
            self.inner.view(viewer)

    def destroy(self, pc):
        for obj in (self.inner, self.unscaled, self.work, self.scale):
            if obj is not None:
                obj.destroy()
        self.inner = self.unscaled = self.work = self.scale = None


LI_PRECONDITIONERS = {
    "asm_lu": {"ksp_type": "gmres", "pc_type": "asm", "sub_pc_type": "lu"},
    "bjacobi_ilu": {"ksp_type": "gmres", "pc_type": "bjacobi", "sub_pc_type": "ilu"},
    # multiplicative block Gauss–Seidel (ξ,c) → φ, ILU | BoomerAMG
    "fieldsplit_hypre": {**_SPLIT, "ksp_type": "gmres", "pc_fieldsplit_type": "multiplicative"},
    # full Schur factorisation, S preconditioned from A11 - A10 diag(A00)⁻¹ A01 (an extra sparse product)
    "schur_selfp_hypre": {**_SCHUR, "pc_fieldsplit_schur_precondition": "selfp"},
    # the same with S preconditioned from the φ block alone: one V-cycle per outer iteration
    "schur_a11_hypre": {**_SCHUR, "pc_fieldsplit_schur_precondition": "a11"},
    # the Schur split on the unscaled rows: one BoomerAMG V-cycle on the symmetric φ Laplacian
    "unscaled_schur_a11_hypre": unscaled({**_SCHUR, "pc_fieldsplit_schur_precondition": "a11", **_AMG}),
    # ... and ASM(overlap 1)/ILU instead of block-Jacobi/ILU on (ξ,c)
    "unscaled_schur_a11_hypre_asm": unscaled({**_SCHUR, "pc_fieldsplit_schur_precondition": "a11", **_AMG,
                                              "fieldsplit_0_pc_type": "asm", "fieldsplit_0_pc_asm_overlap": "1"}),
}

# the Li stage's default (stage.MODEL_OPTIONS; why: the module docstring and the comment there)
DEFAULT_LI_PRECONDITIONER = "unscaled_schur_a11_hypre_asm"


def li_solver_options(name: str) -> dict:
    """Options for the time steps and, under ``init_``, the same preconditioner for the consistent start.

    The consistent start (:meth:`PhaseFieldSolver.make_consistent`) defaults to a direct LU, which does
    not fit at 128³; with ξ and c held its Jacobian is block-triangular, so the field split is exact there.
    """
    options = dict(LI_PRECONDITIONERS[name])
    if name != "asm_lu":
        # the consistent-start SNES has no DM, so a plain split there comes from the block size and its
        # splits are named 0 and 1; UnscaledRows gives its inner split the DMDA (names xi,c | phi) either way
        rename = options["pc_type"] == "fieldsplit"
        options.update({"init_" + (key.replace("fieldsplit_phi_", "fieldsplit_1_") if rename else key): value
                        for key, value in LI_PRECONDITIONERS[name].items()})
    return options
