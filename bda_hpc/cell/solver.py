"""PETSc TS (implicit DAE, adaptive steps, events for cut-offs) + SNES driver of one DFN cell.

One cell is a serial problem (~1000 unknowns): PETSc objects live on COMM_SELF; many cells run
side by side on different ranks (``sweep.py``). Options prefix ``dfn_``: defaults below, then the
TOML ``[cell.petsc]`` table, then the command line (``setFromOptions`` last), e.g.
``-dfn_ts_type beuler -dfn_ts_monitor``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from bda_hpc.errors import SolverError
from bda_hpc.petsc_options import prefixed_defaults

from .experiment import StepPlan
from .grid import Grid
from .kernel import JacobianPattern, make_kernel

log = logging.getLogger("bda_hpc.cell")

DEFAULT_OPTIONS = {
    "ts_type": "bdf",
    "ts_bdf_order": "3",
    "ts_adapt_dt_max": "60",
    "snes_type": "newtonls",
    "snes_linesearch_type": "basic",
    "snes_max_it": "10",
    # the Jacobian changes slowly along a discharge: rebuild it (and its LU) every 3rd Newton step
    "snes_lag_jacobian": "3",
    "snes_lag_jacobian_persists": "true",
    "snes_lag_preconditioner": "3",
    "snes_lag_preconditioner_persists": "true",
    "snes_rtol": "1e-10",
    "snes_atol": "1e-10",
    "snes_stol": "1e-16",  # the step test is relative to |u| ~ c_s ~ 1e4: it would accept 10 mV errors
    "ksp_type": "preonly",
    "pc_type": "lu",
    # CV steps put a zero on the diagonal of the I row; LU without pivoting needs it moved
    "pc_factor_nonzeros_along_diagonal": "1e-12",
}
EVENT_NAMES = ("lower voltage cut-off", "upper voltage cut-off", "current below CV limit",
               "negative surface stoichiometry below the OCP range",
               "negative surface stoichiometry above the OCP range",
               "positive surface stoichiometry below the OCP range",
               "positive surface stoichiometry above the OCP range",
               "electrolyte depleted (below 0.1 % of its initial concentration or the table range)")
RANGE_EVENTS = set(range(3, 8))
MAX_STEPS = 200_000  # per experiment step; a 1C discharge takes ~200
RANGE_SUBJECTS = {3: "negative surface stoichiometry", 4: "negative surface stoichiometry",
                  5: "positive surface stoichiometry", 6: "positive surface stoichiometry",
                  7: "electrolyte concentration"}


@dataclass
class StepOutcome:
    """States at the output times of one step, (t, I, V) at every accepted step, and why it ended."""

    times: list = field(default_factory=list)
    states: list = field(default_factory=list)
    fine: list = field(default_factory=list)
    reason: str = ""


class DfnSolver:
    """Integrates one cell through experiment steps. Call ``destroy()`` when done."""

    def __init__(self, grid: Grid, *, thermal: bool = False, rtol: float = 1e-6, atol: float = 1e-6,
                 petsc_options: dict | None = None, comm=None, pattern: JacobianPattern | None = None):
        from petsc4py import PETSc

        self.PETSc = PETSc
        self.comm = comm if comm is not None else PETSc.COMM_SELF
        self.grid, self.thermal = grid, thermal
        self.rtol, self.atol = rtol, atol
        self.kernel = make_kernel(grid, thermal)
        # the sparsity depends on the mesh only: sweeps hand the first cell's pattern to the others
        self.pattern = pattern or JacobianPattern(grid, self.kernel, grid.initial_state())
        n = grid.size
        p = self.pattern
        # the matrix uses the pattern's arrays without a copy: assembling writes straight into PETSc
        self.J = PETSc.Mat().createAIJWithArrays([n, n], (p.indptr, p.indices, p.values), comm=PETSc.COMM_SELF)
        self.F = PETSc.Vec().createSeq(n)
        self.atol_vec = PETSc.Vec().createSeq(n)
        self.atol_vec.array[:] = atol * grid.scales()
        # defaults < TOML [cell.petsc] < command line / PETSC_OPTIONS; present only while setFromOptions runs
        self.options = {**DEFAULT_OPTIONS, **{k: str(v) for k, v in (petsc_options or {}).items()}}
        self.algebraic = np.flatnonzero(grid.differential_mask() == 0)
        self._potential_rows = np.flatnonzero(self.algebraic != grid.slices["I"].start)
        t = grid.params.tables
        ce_floor = max(t["electrolyte.diffusivity"].lo, t["electrolyte.conductivity"].lo,
                       1e-3 * grid.params["electrolyte.c_init"])  # below this the kinetics degenerate (j0 ~ sqrt c_e)
        self.ranges = (t["negative.ocp"].lo, t["negative.ocp"].hi, t["positive.ocp"].lo, t["positive.ocp"].hi, ce_floor)
        self._extremes = np.zeros(6)
        self._i_index = grid.slices["I"].start
        self.stage = PETSc.Log.Stage("dfn solve")
        self.ev_jac = PETSc.Log.Event("dfn jacobian")

    # ---- PETSc callbacks -------------------------------------------------------------------
    def _ifunction(self, ts, t, U, Udot, F):
        self.kernel.setpoint = self._setpoint(t - self._t_start)
        self.kernel.residual(U.array_r, Udot.array_r, F.array)

    def _ijacobian(self, ts, t, U, Udot, shift, J, P):
        self.ev_jac.begin()
        self.kernel.setpoint = self._setpoint(t - self._t_start)
        self.pattern.assemble(self.grid, self.kernel, U.array_r, Udot.array_r, shift)
        P.assemble()  # values are already in place; this marks the matrix as changed
        if J != P:
            J.assemble()
        self.ev_jac.end()

    def _indicators(self, u: np.ndarray) -> np.ndarray:
        plan, ex = self._plan, self._extremes
        self.kernel.extremes(u, ex)  # V, x_n min/max, x_p min/max, c_e min
        out = np.ones(len(EVENT_NAMES))
        if plan.v_below is not None:
            out[0] = ex[0] - plan.v_below
        if plan.v_above is not None:
            out[1] = plan.v_above - ex[0]
        if plan.i_below is not None:
            out[2] = abs(u[self._i_index]) - plan.i_below
        lo_n, hi_n, lo_p, hi_p, ce_lo = self.ranges
        out[3:] = ex[1] - lo_n, hi_n - ex[2], ex[3] - lo_p, hi_p - ex[4], ex[5] - ce_lo
        return out

    def _event(self, ts, t, U, fvalue):
        fvalue[:] = self._indicators(U.array_r)

    def _postevent(self, ts, events, t, U, forward):
        self._fired = [int(e) for e in events]

    def _monitor(self, ts, step, t, U):
        u = U.array_r
        if not np.isfinite(u.sum()):
            raise SolverError(f"cell solve: non-finite state at t = {t:g} s", collective=False)
        out = self._out
        if step > 0:
            out.fine.append((float(t), float(u[self._i_index]), self.kernel.voltage(u)))
        if self._output_dt is None:
            if step > 0:
                out.times.append(float(t))
                out.states.append(u.copy())
            return
        while self._next_out < t - 1e-9 * max(1.0, t):  # dense output from the BDF history
            ts.interpolate(self._next_out, self._work)
            out.times.append(self._next_out)
            out.states.append(self._work.array_r.copy())
            self._next_out += self._output_dt
        self._last = (float(t), u.copy())

    # ---- driver ------------------------------------------------------------------------------
    def consistent(self, u: np.ndarray, plan: StepPlan, t_step: float = 0.0) -> np.ndarray:
        """Solve the algebraic rows for phi_e, phi_s and I with the differential states held fixed."""
        self._setpoint = plan.setpoint if callable(plan.setpoint) else (lambda _t, v=plan.setpoint: v)
        self.kernel.control = plan.control
        self.kernel.setpoint = self._setpoint(t_step)
        u = u.copy()
        zero = np.zeros_like(u)
        res = np.empty_like(u)
        a = self.algebraic
        p = self.pattern
        for _ in range(50):
            self.kernel.residual(u, zero, res)
            if np.max(np.abs(res[a])) < 1e-11:
                return u
            vals = p.assemble(self.grid, self.kernel, u, zero, 0.0)
            jac = sp.csr_matrix((vals, p.indices, p.indptr), shape=(u.size, u.size))[a][:, a]
            du = spsolve(jac.tocsc(), res[a])
            step = 1.0 / max(1.0, np.max(np.abs(du[self._potential_rows])) / 0.2)  # potentials move <= 0.2 V
            u[a] -= step * du
            # thin or very porous electrodes scale some rows so that round-off leaves ~1e-11 behind:
            # a full Newton step at the level of round-off in the unknowns is converged too
            if step == 1.0 and np.max(np.abs(du)) <= 1e-12 * (1.0 + np.max(np.abs(u[a]))):
                return u
        raise SolverError(f"cell: no consistent initial state for step '{plan.label}' "
                          f"(algebraic residual {np.max(np.abs(res[a])):.3g} after 50 Newton steps)")

    def run_step(self, u: np.ndarray, t0: float, plan: StepPlan, dt0: float = 1.0,
                 output_dt: float | None = None) -> StepOutcome:
        """Integrate one step from state u at time t0 until its duration or an event.

        Outputs: every accepted step (output_dt None) or every output_dt seconds (interpolated)
        plus the final state; the (t, I, V) trace of every accepted step is always kept."""
        PETSc = self.PETSc
        self._plan, self._t_start, self._fired = plan, t0, []
        u = self.consistent(u, plan)
        self._out = StepOutcome(times=[t0], states=[u.copy()],
                                fine=[(t0, float(u[self.grid.slices["I"]][0]), self.kernel.voltage(u))])
        self._output_dt, self._last = output_dt, None
        if output_dt is not None:
            self._next_out = t0 + output_dt
        ts = PETSc.TS().create(comm=PETSc.COMM_SELF)
        U = PETSc.Vec().createSeq(u.size)
        self._work = U.duplicate()
        try:
            ts.setOptionsPrefix("dfn_")
            ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
            ts.setEquationType(PETSc.TS.EquationType.DAE_IMPLICIT_INDEX1)
            ts.setIFunction(self._ifunction, self.F)
            ts.setIJacobian(self._ijacobian, self.J)
            ts.setTolerances(rtol=self.rtol, atol=self.atol_vec)
            ts.setTime(t0)
            ts.setMaxTime(t0 + plan.duration)
            ts.setTimeStep(min(dt0, plan.duration))
            ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
            ts.setMaxSteps(MAX_STEPS)
            ts.setMaxSNESFailures(-1)
            ts.setErrorIfStepFails(False)
            n_ev = len(EVENT_NAMES)
            ts.setEventHandler([-1] * n_ev, [True] * n_ev, self._event, postevent=self._postevent)
            ts.setEventTolerances(tol=1e-9)
            ts.setMonitor(self._monitor)
            with prefixed_defaults("dfn_", self.options):
                opts = PETSc.Options()
                dt_max = opts.getReal("dfn_ts_adapt_dt_max", 1e300)
                if plan.max_dt is not None:  # resolve every sample of a drive cycle
                    opts["dfn_ts_adapt_dt_max"] = min(dt_max, plan.max_dt)
                ts.setFromOptions()
                if plan.max_dt is not None:
                    opts["dfn_ts_adapt_dt_max"] = dt_max
            U.array[:] = u
            self.stage.push()
            try:
                ts.solve(U)
            finally:
                self.stage.pop()
            reason = ts.getConvergedReason()
            if self._last is not None and self._last[0] > self._out.times[-1]:
                self._out.times.append(self._last[0])
                self._out.states.append(self._last[1])
            self._out.reason = self._describe(reason, ts.getTime())
        finally:
            ts.destroy()
            U.destroy()
            self._work.destroy()
        return self._out

    def _describe(self, reason: int, t: float) -> str:
        if self._fired:
            names = [EVENT_NAMES[e] for e in self._fired]
            bad = [EVENT_NAMES[e] for e in self._fired if e in RANGE_EVENTS]
            if bad:
                v = self.kernel.voltage(self._out.states[-1])
                raise SolverError(f"cell step '{self._plan.label}': {bad[0]} at t = {t:.1f} s, V = {v:.4f} V -- an "
                                  f"electrode or the electrolyte is exhausted; end the step earlier (voltage "
                                  f"cut-off) or lower the current")
            return names[0]
        if reason > 0 and t >= self._t_start + self._plan.duration * (1 - 1e-12):
            return "duration reached"
        if reason > 0:
            raise SolverError(f"cell step '{self._plan.label}': {MAX_STEPS} time steps without reaching the end "
                              f"(t = {t:.1f} s); the time step collapsed -- see -dfn_ts_monitor")
        # a failure as a surface stoichiometry (or c_e) runs into the end of its range is named as such
        ind = self._indicators(self._out.states[-1])
        near = [e for e in sorted(RANGE_EVENTS) if ind[e] < 0.01]
        if near:
            v = self.kernel.voltage(self._out.states[-1])
            raise SolverError(f"cell step '{self._plan.label}': the solver failed as the "
                              f"{RANGE_SUBJECTS[near[0]]} came "
                              f"within 1 % of the end of its range (t = {t:.1f} s, V = {v:.4f} V): an electrode or "
                              f"the electrolyte is exhausted -- end the step with a voltage inside the OCP range")
        # a failed step close to a voltage limit is reported as reaching that limit
        v = self.kernel.voltage(self._out.states[-1])
        limits = [x for x in (self._plan.v_below, self._plan.v_above) if x is not None]
        if limits and min(abs(v - x) for x in limits) < 0.05:
            log.warning("cell: solver stopped (reason %d) at t = %.1f s, V = %.4f V, within 50 mV of the "
                        "cut-off; the step ends there", reason, t, v)
            return "solver stopped near voltage cut-off"
        raise SolverError(f"cell step '{self._plan.label}': time integration failed (PETSc reason {reason}) "
                          f"at t = {t:.1f} s, V = {v:.4f} V")

    def destroy(self):
        for obj in (self.J, self.F, self.atol_vec):
            obj.destroy()
