"""The ``fem_``-prefixed PETSc linear solver: CG with algebraic multigrid by default.

Defaults come from the caller (the TOML ``[microstructure.petsc]`` table);
``setFromOptions()`` is called last, so ``-fem_ksp_type`` etc. on the command
line always win.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import SolverError
from ..petsc_options import prefixed_defaults
from .assembly import log_event

LOG = logging.getLogger("bda_hpc.fem")

DEFAULT_OPTIONS = {
    "ksp_type": "cg",
    "pc_type": "gamg",
    "ksp_rtol": 1e-8,
    "ksp_max_it": 500,
    "ksp_norm_type": "unpreconditioned",
}


@dataclass
class SolveInfo:
    iterations: int
    residual_norm: float
    reason: int


class LinearSolver:
    """KSP on ``comm`` with options prefix ``prefix``; ``options`` (without prefix) are defaults."""

    def __init__(self, comm, options: Mapping | None = None, prefix: str = "fem_"):
        from petsc4py import PETSc

        self.comm = comm
        self.prefix = prefix
        # In the options database only while this solver calls into PETSc (multigrid reads some at set-up),
        # so two live solvers under one prefix keep their own
        self._defaults = prefixed_defaults(prefix, {**DEFAULT_OPTIONS, **dict(options or {})})
        self.ksp = PETSc.KSP().create(comm=comm)
        self.ksp.setOptionsPrefix(prefix)
        with self._defaults:
            self.ksp.setFromOptions()

    def solve(self, A, b, x, nonzero_guess: bool = True) -> SolveInfo:
        """Solve A x = b (x holds the initial guess when ``nonzero_guess``)."""
        with log_event("solve"), self._defaults:
            self.ksp.setOperators(A)
            self.ksp.setInitialGuessNonzero(nonzero_guess)
            self.ksp.setFromOptions()
            self.ksp.solve(b, x)
        reason = self.ksp.getConvergedReason()
        info = SolveInfo(self.ksp.getIterationNumber(), self.ksp.getResidualNorm(), reason)
        if reason < 0:
            raise SolverError(
                f"fem solver ({self.ksp.getType()} + {self.ksp.getPC().getType()}) did not converge: "
                f"reason {reason} after {info.iterations} iterations, residual {info.residual_norm:.3e}; "
                f"try -{self.prefix}pc_type hypre or a larger -{self.prefix}ksp_max_it", collective=True)
        LOG.debug("fem solve: %d iterations, residual %.3e", info.iterations, info.residual_norm)
        return info

    def destroy(self) -> None:
        self.ksp.destroy()
