"""What a phase-field model declares, so that the solver needs nothing model-specific.

A model is written as an implicit system ``F(t, u, u̇) = 0`` at every cell
(PETSc TS IFunction form); algebraic fields (a chemical potential, an electric
potential) simply have no u̇ term. A subclass declares:

* ``name`` and ``fields`` (names, in dof order),
* ``coupling`` (see :mod:`sparsity`): which field depends on which neighbours,
* ``periodic`` and ``faces`` (boundary conditions, see :mod:`grid`),
* ``residual_kernel(u, udot, F, prm, h, off, dim)`` and
  ``jacobian_kernel(u, udot, shift, vals, row_start, slot, prm, h, off, dim)``:
  Numba functions over the ghosted local array; the Jacobian is
  ∂F/∂u + shift · ∂F/∂u̇,
* ``parameters()``: the float64 parameter vector the kernels read,
* ``energy(grid, u)``: the total free energy (for monitoring),
* ``initial_state(grid)``: the owned part of u at t = 0,
* optionally ``row_scale(owned_u)``: if the residual rows are divided by a
  state-dependent scale s (to balance the nonlinear tolerance), the factor
  s per row (shape of ``owned_u``), so that a preconditioner can work on the
  unscaled rows s·J (see :class:`preconditioners.UnscaledRows`).
"""
from __future__ import annotations

import numpy as np


class Model:
    name = "model"
    fields: tuple[str, ...] = ()
    coupling: list[list[int]] = []
    periodic: tuple[bool, ...] = ()
    residual_kernel = None
    jacobian_kernel = None

    @property
    def dof(self) -> int:
        return len(self.fields)

    def faces(self) -> dict:
        return {}

    def parameters(self) -> np.ndarray:
        raise NotImplementedError

    def initial_state(self, grid) -> np.ndarray:
        raise NotImplementedError

    def energy(self, grid, u: np.ndarray) -> float:
        """Total free energy of this rank's cells (the solver sums over ranks)."""
        raise NotImplementedError

    def row_scale(self, owned_u: np.ndarray) -> np.ndarray | None:
        """Per-row factor that undoes the model's residual row scaling; None when rows are not scaled."""
        return None

    def describe(self) -> dict:
        """Model identity stored in checkpoints (a restart must match it)."""
        return {"name": self.name, "fields": list(self.fields)}
