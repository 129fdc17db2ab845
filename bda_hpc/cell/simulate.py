"""Public API: ``simulate(params_overrides, experiment) -> CellResults`` and the reusable
``CellSimulation`` (set up once, run many experiments -- what sweeps and benchmarks use)."""

from __future__ import annotations

import logging
from pathlib import Path

from .experiment import Step, plan_step
from .grid import Grid, MeshSizes
from .params import ParameterSet, load_parameter_set
from .results import CellResults, postprocess
from .solver import DfnSolver

log = logging.getLogger("bda_hpc.cell")


def as_steps(experiment) -> list[Step]:
    """Steps from Step objects or plain dicts (TOML tables); default: 1C discharge to the cut-off."""
    if experiment is None:
        return [Step(mode="current", c_rate=1.0)]
    return [s if isinstance(s, Step) else Step(**s) for s in experiment]


class CellSimulation:
    """One parameter set + mesh + solver settings; ``run`` integrates an experiment."""

    def __init__(self, params: ParameterSet, mesh: MeshSizes | None = None, *, thermal: bool = False,
                 rtol: float = 1e-6, atol: float = 1e-6, petsc_options: dict | None = None, pattern=None):
        self.params = params
        self.grid = Grid(params, mesh or MeshSizes())
        self.thermal = thermal
        self.solver = DfnSolver(self.grid, thermal=thermal, rtol=rtol, atol=atol, petsc_options=petsc_options,
                                pattern=pattern)

    def run(self, experiment=None, *, output_dt: float | None = None, base_dir: Path = Path("."),
            progress: bool = False) -> CellResults:
        pv = self.params.values
        cell = pv["cell"]
        plans = [plan_step(s, cell["nominal_capacity_Ah"], cell["lower_voltage_cutoff"],
                           cell["upper_voltage_cutoff"], base_dir) for s in as_steps(experiment)]
        T0 = cell["ambient_temperature"]
        if self.thermal:
            T0 = cell.get("initial_temperature", T0)
        u, t = self.grid.initial_state(temperature=T0), 0.0
        times, states, fine, step_index, reasons = [], [], [], [], []
        for k, plan in enumerate(plans):
            out = self.solver.run_step(u, t, plan, output_dt=output_dt)
            first = 0 if k == 0 else 1  # the step's first state repeats the previous step's last time
            times += out.times[first:]
            states += out.states[first:]
            fine += out.fine  # keep both sides of a current jump: a zero-width trapezoid
            step_index += [k] * (len(out.times) - first)
            reasons.append(out.reason)
            u, t = out.states[-1], out.times[-1]
            if progress:
                log.info("step %d/%d (%s): ended at t = %.0f s, V = %.4f V: %s", k + 1, len(plans), plan.label,
                         t, self.grid.voltage(u), out.reason)
        return postprocess(self.grid, times, states, fine, step_index, reasons)

    def destroy(self):
        self.solver.destroy()


def simulate(params_overrides: dict | None = None, experiment=None, *, parameter_set: str | Path = "Chen2020",
             mesh: MeshSizes | None = None, thermal: bool = False, rtol: float = 1e-6, atol: float = 1e-6,
             output_dt: float | None = None, petsc_options: dict | None = None) -> CellResults:
    """Simulate one cell.

    params_overrides: ``{"negative.thickness": 7e-5, "positive.porosity": 0.3, ...}`` (keys as in the
    parameter-set JSON); experiment: list of ``Step`` or dicts (see ``experiment.Step``), default a 1C
    discharge to the lower cut-off. Returns ``CellResults`` (``.series``, ``.summary``, indexable by name).
    """
    params = load_parameter_set(parameter_set, params_overrides)
    sim = CellSimulation(params, mesh, thermal=thermal, rtol=rtol, atol=atol, petsc_options=petsc_options)
    try:
        return sim.run(experiment, output_dt=output_dt)
    finally:
        sim.destroy()


def lithium_inventory_error(sim: CellSimulation, res: CellResults) -> float:
    """Charge conservation: Li lost by the negative and gained by the positive particles, each
    against integral I dt / F; returns the larger relative mismatch."""
    from .grid import FARADAY

    moved = res.series["capacity"][0][-1] * 3600.0 / FARADAY / sim.grid.area  # mol per electrode area
    n0, p0 = sim.grid.lithium_in_solid(sim.grid.initial_state())
    n1, p1 = sim.grid.lithium_in_solid(res.final_state)
    return max(abs((n0 - n1) - moved), abs((p1 - p0) - moved)) / abs(moved)
