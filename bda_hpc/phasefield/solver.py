"""Implicit time integration of any :class:`Model` on a :class:`Grid` with PETSc TS (options prefix ``pf_``).

The TS sees the model as an IFunction/IJacobian pair. Each callback scatters
the global state into the ghosted local array, fills boundary ghosts and
calls the model's Numba kernel; the Jacobian is written into a fixed local
CSR (:mod:`sparsity`), whose value array PETSc copies in one COO call.

Time runs in *segments* (:meth:`PhaseFieldSolver.advance`): each segment is
one ``TSSolve`` from a state (u, t, dt) to a target time, and starts its
integrator afresh. A checkpoint holds exactly (u, t, dt, step) at a segment
boundary, so a restarted run repeats the uninterrupted one step for step.
"""
from __future__ import annotations

import logging
import math
import time
import weakref

import numpy as np

from ..errors import SolverError
from ..petsc_options import prefixed_defaults
from .grid import Grid
from .preconditioners import GRID_DM, ROW_SCALE
from .sparsity import Sparsity

log = logging.getLogger("bda_hpc.phasefield")

DEFAULT_OPTIONS = {
    "ts_type": "bdf",
    "ts_adapt_type": "basic",
    "ts_max_snes_failures": "-1",
    "ts_max_reject": "20",
    "ts_rtol": "1e-4",
    "ts_atol": "1e-4",
    "snes_type": "newtonls",
    "snes_rtol": "1e-10",
    "snes_atol": "1e-10",
    "snes_max_it": "20",
    "ksp_type": "preonly",
    "pc_type": "lu",
    # a stalled Krylov solve fails the step (dt is cut, or a clear error) instead of running PETSc's 10000
    # iterations: one BM3 step at 2.9 M unknowns sat in GMRES for > 11 min (on a Jacobian with round-off noise,
    # karma_rappel.DIRECTION_FLOOR since); normal solves take 20–350
    "ksp_max_it": "1000",
}


class PhaseFieldSolver:
    """TS + SNES + KSP for one model on one grid; ``options`` are TOML defaults under the prefix.

    The defaults are in PETSc's options database only while this solver calls into PETSc (set-up and
    :meth:`advance`, where split and sub-solver options are read lazily), so several live solvers under one
    prefix each keep their own; options the user gave (command line, ``PETSC_OPTIONS``) win in all of them.
    """

    def __init__(self, comm, grid: Grid, model, *, options: dict | None = None, prefix: str = "pf_",
                 progress_every: float = 10.0):
        from petsc4py import PETSc

        self.comm = comm
        self.grid = grid
        self.model = model
        self.prefix = prefix
        self.progress_every = progress_every
        self.sparsity = Sparsity(grid, model.coupling)
        self._h = np.array([grid.spacing[2] if grid.dim == 3 else 1.0, grid.spacing[1], grid.spacing[0]])
        self._off = np.array(grid.offset, dtype=np.int64)
        self._prm = np.ascontiguousarray(model.parameters(), dtype=float)
        self._stage = PETSc.Log.Stage("pf_timestep")
        self._ev_res = PETSc.Log.Event("pf_residual")
        self._ev_jac = PETSc.Log.Event("pf_jacobian")

        self.u = grid.da.createGlobalVec()
        self.F = self.u.duplicate()
        self._row_scale = None  # the model's row scale as a Vec, made at the first Jacobian if it has one
        self.ts = PETSc.TS().create(comm)
        # a python PC (preconditioners.UnscaledRows) must be destroyed while Python still runs: a script that
        # never calls destroy() would otherwise crash at exit, after petsc4py's finalisation
        self._destroy_ts = weakref.finalize(self, self.ts.destroy)
        self.ts.setOptionsPrefix(prefix)
        self.ts.setDM(grid.da)
        self.ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
        self.ts.setEquationType(PETSc.TS.EquationType.DAE_IMPLICIT_INDEX1)
        self.ts.setIFunction(self._ifunction, self.F)
        self.ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
        self.ts.setErrorIfStepFails(False)  # a failed step ends TSSolve with a reason we turn into SolverError
        self.ts.setMonitor(self._monitor)
        self.ts.setPostStep(self._post_step)
        # inserted again around every solve: sub-solvers (ASM blocks, field splits) read theirs at first set-up
        self._options = prefixed_defaults(prefix, {**DEFAULT_OPTIONS, **(options or {})})
        with self._options:
            self.J = self._create_jacobian()
            self.ts.setIJacobian(self._ijacobian, self.J, self.J)
            self.ts.setFromOptions()
        self._exclude_algebraic_fields_from_error()
        self.step_callbacks = []
        # callables (solver, t, owned) -> str | None asked after every step with the owned state (read-only,
        # (nz, ny, nx, dof)); a reason ends the integration there. Collective: every rank must return the same.
        self.stop_checks = []
        self.stop_reason = None
        # () -> how far (0..1) the run has come toward an end other than t_end that a stop check watches (a
        # dendrite's tip toward the counter electrode); the progress line's ETA takes the further of the two.
        # Called on rank 0 only, so it must not communicate.
        self.progress_toward_stop = None
        self.consistent_start_iterations = None  # Newton and linear iterations of make_consistent()
        self.t = 0.0
        self.step = 0
        self.dt = None
        self._clock = None
        self._rebuild_preconditioner = True
        self._snes_failures_seen = 0

    def _create_jacobian(self):
        from petsc4py import PETSc

        if _factorises_blocks(self.prefix):
            # LU runs fastest on the DMDA's matrix: every row of a cell has the same columns, so PETSc's
            # inode routines factorise and solve a cell's rows together (the model's exact pattern took
            # twice the CPU time with LU on the FiPy comparison grid; session 5)
            mat = self.grid.da.createMatrix()
            mat.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
            return mat
        return self.sparsity.create_matrix(self.grid)

    def _exclude_algebraic_fields_from_error(self) -> None:
        """Step-size control on the differential fields only (as IDA's suppressalg does).

        Algebraic fields (μ, φ) jump to satisfy their constraint at the first
        step; their local truncation error would otherwise stall the adaptor.
        """
        algebraic = getattr(self.model, "algebraic", ())
        if not any(algebraic):
            return
        rtol, atol = self.ts.getTolerances()
        vecs = []
        for tol in (rtol, atol):
            v = self.u.duplicate()
            arr = self.grid.owned_view(v)
            arr[...] = tol
            arr[..., np.asarray(algebraic, dtype=bool)] = 1e300
            vecs.append(v)
        self.ts.setTolerances(rtol=vecs[0], atol=vecs[1])
        self._tolerance_vecs = vecs

    # ------------------------------------------------------------- callbacks

    def _ifunction(self, ts, t, x, xdot, f):
        self._ev_res.begin()
        u = self.grid.ghosted(x)
        udot = self.grid.owned_view(xdot, readonly=True)
        out = self.grid.owned_view(f)
        self.model.residual_kernel(u, udot, out, self._prm, self._h, self._off, self.grid.dim)
        self._ev_res.end()

    def jacobian_values(self, x, xdot, shift: float) -> None:
        """The model's Jacobian dF/du + shift dF/du̇ at (x, xdot) into ``self.sparsity.values`` (not yet in PETSc)."""
        sp = self.sparsity
        sp.values[:] = 0.0
        self.model.jacobian_kernel(self.grid.ghosted(x), self.grid.owned_view(xdot, readonly=True), float(shift),
                                   sp.values, sp.row_start, sp.slot, self._prm, self._h, self._off, self.grid.dim)

    def _ijacobian(self, ts, t, x, xdot, shift, J, P):
        self._assemble_jacobian(x, xdot, shift, J, P)
        failures = ts.getSNESFailures()
        if self._rebuild_preconditioner or failures != self._snes_failures_seen:
            self._rebuild_preconditioner, self._snes_failures_seen = False, failures
            self._rebuild_preconditioner_now(ts)
        return True

    def _rebuild_preconditioner_now(self, ts) -> None:
        """Set up the preconditioner on this Jacobian, whatever the lag (``snes_lag_preconditioner``) says.

        The lag counts completed Newton iterations, and a failed solve completes few or none, so the retries
        of a step at a cut dt reused the preconditioner that had just failed (BM3 at 600² on 2 ranks: 8 failed
        tries in a row, session 15). It is set up at every segment start as well, so that a run going on in one
        process and one restarted from the segment's checkpoint solve with the same preconditioner.
        """
        pc = ts.getSNES().getKSP().getPC()
        pc.setReusePreconditioner(False)  # the SNES sets reuse again after this callback, and keeps this set-up
        pc.setUp()

    def _assemble_jacobian(self, x, xdot, shift, J, P) -> None:
        self._ev_jac.begin()
        self.jacobian_values(x, xdot, shift)
        self.sparsity.set_jacobian(P)
        if J != P:
            J.assemble()
        scale = self.model.row_scale(self.grid.owned_view(x, readonly=True))
        if scale is not None:  # attached to the matrix for preconditioners.UnscaledRows
            if self._row_scale is None:
                self._row_scale = self.u.duplicate()
                self._row_scale.compose(GRID_DM, self.grid.da)
            self.grid.owned_view(self._row_scale)[...] = scale
            P.compose(ROW_SCALE, self._row_scale)
        self._ev_jac.end()

    def _monitor(self, ts, step, t, x):
        if step == self._segment_first_step:
            return
        for callback in self.step_callbacks:
            callback(self, step, t, x)
        now = time.perf_counter()
        if now - self._last_progress >= self.progress_every and self.comm.rank == 0:
            self._last_progress = now
            self._progress(step, t)

    def _post_step(self, ts):
        from petsc4py import PETSc

        # read-only: TS restarts its multistep history (a backward-Euler half step, then the full step, i.e.
        # two nonlinear solves) after any post-step callback that changed the solution's state counter
        owned = self.grid.owned_view(ts.getSolution(), readonly=True)
        for check in self.stop_checks:
            reason = check(self, ts.getTime(), owned)
            if reason:
                self.stop_reason = reason
                # ends TSSolve after this step (a reason set in the monitor would be reset by the next step)
                ts.setConvergedReason(PETSc.TS.ConvergedReason.CONVERGED_USER)
                return

    def _progress(self, step, t):
        elapsed = time.perf_counter() - self._clock
        done = (t - self._t_run_start) / max(self._t_run_end - self._t_run_start, 1e-300)
        if self.progress_toward_stop is not None:
            done = max(done, self.progress_toward_stop())
        eta = elapsed * (1.0 - done) / done if done > 0 else math.inf
        log.info("t=%.6g dt=%.3g step=%d snes=%d ksp=%d eta=%s", t, self.ts.getTimeStep(), step,
                 self.ts.getSNESIterations(), self.ts.getKSPIterations(),
                 "?" if not math.isfinite(eta) else f"{eta:.0f}s")

    # -------------------------------------------------------------- stepping

    def set_state(self, owned: np.ndarray, t: float = 0.0, step: int = 0, dt: float | None = None) -> None:
        self.grid.owned_view(self.u)[...] = owned
        self.t, self.step, self.dt = float(t), int(step), dt

    def make_consistent(self) -> None:
        """Solve F(u, u̇ = 0) = 0 for the algebraic fields with the differential ones held fixed.

        A DAE started from a guess for φ (or μ) makes the first implicit step
        solve a far-off nonlinear problem (Newton stalls on the exponential
        Butler–Volmer term); this puts the state on the constraint first.
        """
        from petsc4py import PETSc

        algebraic = np.asarray(getattr(self.model, "algebraic", ()), dtype=bool)
        if not algebraic.any():
            return
        dof = self.grid.dof
        start, end = self.u.getOwnershipRange()
        rows = np.arange(start, end, dtype=PETSc.IntType)
        fixed_rows = rows[~algebraic[(rows - start) % dof]]
        held = self.u.copy()
        zero = self.u.duplicate()
        zero.set(0.0)
        fixed = ~algebraic

        def function(snes, x, f):
            self._ifunction(self.ts, self.t, x, zero, f)
            out = self.grid.owned_view(f)
            moved = self.grid.owned_view(x, readonly=True) - self.grid.owned_view(held, readonly=True)
            out[..., fixed] = moved[..., fixed]

        def jacobian(snes, x, J, P):
            self._assemble_jacobian(x, zero, 0.0, J, P)
            P.zeroRows(fixed_rows, diag=1.0)

        snes = PETSc.SNES().create(self.comm)
        snes.setOptionsPrefix(self.prefix + "init_")
        residual = self.F.duplicate()
        snes.setFunction(function, residual)
        # The TS's own matrix: its IJacobian rewrites every value before the TS uses it, so borrowing it here
        # saves a second matrix (and its COO map) at the run's start. zeroRows would otherwise drop the held
        # rows' pattern, and an inexact solve that needs a second Newton step could not write them again.
        J = self.J
        J.setOption(PETSc.Mat.Option.KEEP_NONZERO_PATTERN, True)
        snes.setJacobian(jacobian, J, J)
        # the solver's own options first (they may name an init_ preconditioner: a direct LU does not fit large 3D
        # grids), LU where they name none; both stay in place through the solve, where PETSc reads split options
        init_defaults = prefixed_defaults(self.prefix + "init_", {
            "snes_rtol": "1e-10", "ksp_type": "preonly", "pc_type": "lu",
            "pc_factor_mat_solver_type": "mumps" if self.comm.size > 1 else "petsc"})
        stage = PETSc.Log.Stage("pf_consistent_start")
        stage.push()
        try:
            with self._options, init_defaults:
                snes.setFromOptions()
                snes.solve(None, self.u)
        finally:
            stage.pop()
        reason = snes.getConvergedReason()
        self.consistent_start_iterations = {"newton_its": snes.getIterationNumber(),
                                            "linear_its": snes.getLinearSolveIterations()}
        J.setOption(PETSc.Mat.Option.KEEP_NONZERO_PATTERN, False)
        for obj in (snes, held, zero, residual):
            obj.destroy()
        if reason < 0:
            raise SolverError(f"consistent initial state: the algebraic fields did not converge (SNES reason "
                              f"{reason})", collective=True)

    def state(self) -> np.ndarray:
        return self.grid.owned_view(self.u).copy()

    def begin_run(self, t_end: float) -> None:
        """Set the span the progress line's ETA refers to."""
        self._clock = time.perf_counter()
        self._last_progress = self._clock
        self._t_run_start, self._t_run_end = self.t, t_end

    def advance(self, t_target: float, dt_initial: float, dt_max: float | None = None) -> None:
        """Integrate from the current state to ``t_target`` (one segment), or until a stop check gives a
        reason (then ``stop_reason`` holds it and ``t`` is the time of the step that triggered it)."""

        if self._clock is None:
            self.begin_run(t_target)
        ts = self.ts
        ts.setTime(self.t)
        ts.setStepNumber(self.step)
        ts.setTimeStep(min(self.dt or dt_initial, t_target - self.t))
        ts.setMaxTime(t_target)
        ts.setMaxSteps(10**9)
        if dt_max is not None:
            ts.setStepLimits(ts.getStepLimits()[0], dt_max)
        self._segment_first_step = self.step
        ts.restartStep()  # multistep history starts afresh, exactly as after a restart from a checkpoint
        # ... and the preconditioner with it (TSSolve counts SNES failures from zero)
        self._rebuild_preconditioner, self._snes_failures_seen = True, 0
        self._stage.push()
        try:
            with self._options:
                ts.solve(self.u)
        finally:
            self._stage.pop()
        reason = ts.getConvergedReason()
        if reason < 0 or not np.isfinite(self.u.norm()):
            raise SolverError(
                f"phase-field time step failed at t = {ts.getTime():.6g} (step {ts.getStepNumber()}, "
                f"dt = {ts.getTimeStep():.3g}): TS reason {_reason_name(reason)}; "
                "the last checkpoint is intact — try a smaller dt_max, a tighter tolerance or another "
                f"preconditioner (-{self.prefix}pc_type)", collective=True)
        self.t = ts.getTime()
        self.step = ts.getStepNumber()
        # the step the adaptor proposes next, unless the segment end clipped the last one
        self.dt = ts.getTimeStep()
        if self.stop_reason is None and ts.getTime() < t_target * (1 - 1e-12):
            raise SolverError(f"phase-field TS stopped at t = {self.t:.6g} before {t_target:.6g}", collective=True)

    def residual_norm(self) -> float:
        """‖F(t, u, 0)‖ — used by tests on steady states."""
        zero = self.u.duplicate()
        zero.set(0.0)
        self._ifunction(self.ts, self.t, self.u, zero, self.F)
        zero.destroy()
        return self.F.norm()

    def total_energy(self) -> float:
        u = self.grid.ghosted(self.u)
        return self.comm.allreduce(self.model.energy(self.grid, u))

    def destroy(self) -> None:
        for v in getattr(self, "_tolerance_vecs", []) + [self._row_scale]:
            if v is not None:
                v.destroy()
        self._destroy_ts()
        self.J.destroy()
        self.F.destroy()
        self.u.destroy()


def _factorises_blocks(prefix: str) -> bool:
    """Whether the configured preconditioner is a direct factorisation (LU, or ASM / block Jacobi with LU)."""
    from petsc4py import PETSc

    opts = PETSc.Options(prefix)
    return "lu" in (opts.getString("pc_type", ""), opts.getString("sub_pc_type", ""))


def _reason_name(reason: int) -> str:
    from petsc4py import PETSc

    for name, value in vars(PETSc.TS.ConvergedReason).items():
        if value == reason and not name.startswith("_"):
            return f"{name} ({reason})"
    return str(reason)
