"""The ``bda-hpc phasefield`` stage: build model and grid, integrate in segments, write every output.

Segments end at output times. After each: fields (parallel HDF5 + XDMF), the
time series (CSV + HDF5), PNG snapshots, and every ``checkpoint_every``
outputs a checkpoint (state, t, dt, step, time series) written atomically;
a failing segment raises before anything of it is written, so the last good
checkpoint stays intact. ``--restart`` continues from ``checkpoint.h5``.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..config import config_text, load_section
from ..errors import InputError
from ..io.fields import read_checkpoint, write_checkpoint, write_fields, write_xdmf_series
from ..io.params import Parameter, select_by_stage, write_params
from .grid import Grid
from .output import TimeSeries, gather_plane, snapshot_png
from .preconditioners import DEFAULT_LI_PRECONDITIONER, li_solver_options
from .settings import PhaseFieldSettings
from .solver import PhaseFieldSolver

log = logging.getLogger("bda_hpc.phasefield")

# Li preconditioner (bda_hpc/phasefield/preconditioners.py has the study): the Schur split with one BoomerAMG
# V-cycle on φ, built on the unscaled rows, at every grid size. Session 13, both lagged, 1 rank, the 48 × 32
# example run to the short circuit: the same 1826 steps to the same end (t = 2.68468 s, time series to 1e-7) in
# 48 CPU s against 183 s with per-rank LU (ASM/LU, GMRES to 1e-8: the default until then; its triangular solves
# cost ~5 matrix products already at 4608 unknowns); a 96² noise front, same steps, 0.29 vs 1.7 s per step;
# 200² on 2 ranks to t = 3 ms 17.7 vs 129 s (session 12); in 3D ASM/LU did not finish the example's first 15
# steps in 300 s. "asm_lu" stays a named choice. (Those runs still restarted BDF at every step; without that,
# session 17, the small example takes 837 steps and 18 s.)
MODEL_OPTIONS = {
    "li_deposition": li_solver_options(DEFAULT_LI_PRECONDITIONER),
    # ILU(2): on the exact (star) pattern ILU(0) needed 180 GMRES per Newton step by t = 300 on the PFHub grid
    # (BM1a 200², 0 -> 300: 203 CPU s with ILU(0), 77 s ILU(1), 34 s ILU(2), 50 s ILU(3); session 5).
    # Eisenstat–Walker: GMRES to a loose tolerance while Newton is far off, tight near its end (instead of 1e-8 at
    # every Newton iteration). Session 14, same steps and F to 1e-11: BM1a 200² to t = 300 41 -> 25 CPU s; 400²
    # with MUMPS LU, t = 237 -> 316, 162 -> 71 s. Mass drift over those 130 steps 1.4e-15 -> 3.2e-13. Not for the Li
    # model (small example to its short circuit 48 -> 58 s) nor BM3 (240² to t = 50 30.5 -> 34.8 s).
    "cahn_hilliard": {"ksp_type": "gmres", "pc_type": "bjacobi", "sub_pc_type": "ilu", "sub_pc_factor_levels": "2",
                      "snes_ksp_ew": "true"},
    # PFHub BM3: φ by block-Jacobi/ILU and U (diffusion, D dt/Δx² ~ 300 at the late steps) by one BoomerAMG
    # V-cycle in a multiplicative split; Newton to 1e-6 relative (the TS tolerance is 1e-3). Against ILU on the
    # whole system with Newton to 1e-10, at 480² to t = 75: GMRES per Newton step 37.5 -> 8.6, 1.19x less CPU
    # time (1.31x on the late, large steps; the gain grows with the grid, none at 120²). benchmarks/bm3_solver.py
    "karma_rappel": {"ksp_type": "gmres", "pc_type": "fieldsplit", "pc_fieldsplit_type": "multiplicative",
                     "fieldsplit_phi_ksp_type": "preonly", "fieldsplit_phi_pc_type": "bjacobi",
                     "fieldsplit_phi_sub_pc_type": "ilu",
                     "fieldsplit_U_ksp_type": "preonly", "fieldsplit_U_pc_type": "hypre", "snes_rtol": "1e-6"},
}

# The step's error in the max norm for the models whose error sits at a moving front: the RMS over the grid lets
# the quiet bulk dilute the front's error. BM3 at Δx 0.8 to t = 100, ts_rtol 1e-3: in the RMS the quadrants
# 96 / 192 / 400 took 52 / 42 / 36 steps and put the tip at 35.16 / 35.20 / 35.40; in the max norm 154 steps each
# and 35.261 / 35.267 / 35.267. Li (examples/dendrite_2d_small.toml to t = 2 s, ts_rtol 1e-3): the RMS put the
# tip 4.9 % above the max norm at 1e-4, the max norm 0.33 % (session 9). Cahn–Hilliard's error is spread over the
# grid, and BM1 was converged with the RMS.
STEP_CONTROL = {
    "li_deposition": {"ts_adapt_wnormtype": "infinity"},
    "cahn_hilliard": {},
    "karma_rappel": {"ts_adapt_wnormtype": "infinity"},
}


# Rebuild the preconditioner at every 16th Newton iteration only, counting across time steps: the shifted
# Jacobian changes little over a few steps, and GMRES (every model's Krylov method above) absorbs the stale
# factors in a few more iterations, while the Jacobian itself stays exact, so Newton converges as before.
# Measured with the same steps and results to 1e-9 (session 12): the small Li example to t = 2 s (ASM/LU)
# 135 -> 54 CPU s; BM1a at 400² with MUMPS LU, 7 late steps 414 -> 139 s; BM3 at 240² to t = 50 41-42 -> 35-37 s;
# BM1 with ILU(2) to t = 300 62 -> 57 s.
LAGGED_PRECONDITIONER = {"snes_lag_preconditioner": "16", "snes_lag_preconditioner_persists": "true"}


def solver_options(model: str, preconditioner: str = "") -> dict:
    """The stage's PETSc defaults for a model: its linear solver (or the named Li solver), how often its
    preconditioner is rebuilt, and its step control."""
    named = li_solver_options(preconditioner) if preconditioner else MODEL_OPTIONS[model]
    return {**named, **LAGGED_PRECONDITIONER, **STEP_CONTROL[model]}


class LiRun:
    """Li electrodeposition: model from settings and upstream files, per-step observables, dendrite.h5."""

    columns = [("time", "s"), ("tip_height", "m"), ("deposited_li", "mol/m^2"), ("current_density", "A/m^2"),
               ("free_energy", "J/m^2")]

    def __init__(self, settings: PhaseFieldSettings, param_paths, comm):
        from .li_deposition import LiDeposition
        from .li_params import apply_atomistic, apply_cell

        phys = settings.physics
        self.upstream = {}
        atomistic = select_by_stage(param_paths, "atomistic", comm) if param_paths else None
        if atomistic is not None:
            phys, self.upstream["atomistic"] = apply_atomistic(phys, atomistic)
        cell = select_by_stage(param_paths, "cell", comm) if param_paths else None
        if cell is not None:
            phys, self.upstream["cell"] = apply_cell(phys, cell)
        self.phys = phys
        s = settings.setup
        self.front = s.front
        self.model = LiDeposition.from_physical(phys, settings.dim, s.front, noise=s.noise, seed=s.seed,
                                                nuclei=s.nuclei)
        self.counter_electrode = settings.cells[0] * settings.spacing[0]  # the far x face (µm)
        self.short_circuit_gap = settings.short_circuit_gap or 6.0 * self.model.interface_length
        self._first_tip = None
        self.stop_progress = 0.0  # how far the tip has come toward the short circuit since this process began

    def stop_reason(self, grid, u_owned, comm) -> str | None:
        """A short circuit: the tip within ``short_circuit_gap`` of the counter electrode."""
        from .metrics import tip_position

        tip = tip_position(grid, u_owned[..., 0], comm)
        if self._first_tip is None:
            self._first_tip = tip
        span = self.counter_electrode - self.short_circuit_gap - self._first_tip
        self.stop_progress = min(max((tip - self._first_tip) / span, 0.0), 1.0) if span > 0 else 1.0
        gap = self.counter_electrode - tip
        if gap > self.short_circuit_gap:
            return None
        return (f"short circuit: the tip is {gap:.3g} µm from the counter electrode at x = "
                f"{self.counter_electrode:g} µm (short_circuit_gap {self.short_circuit_gap:.3g} µm)")

    def observe(self, grid, u_ghost, comm, volume0: float) -> dict:
        from .li_params import E0, L0
        from .metrics import electrode_area, face_inflow, metal_volume, tip_position

        xi = u_ghost[grid.owned + (0,)]
        area = electrode_area(grid)
        inflow = sum(face_inflow(grid, u_ghost, self.model.prm, comm, side)[1] for side in (0, 1))
        return {
            "tip_height": max(tip_position(grid, xi, comm) - self.front, 0.0) * L0,
            "deposited_li": (metal_volume(grid, xi, comm) - volume0) / area * L0 * self.phys.site_density,
            "current_density": inflow / area * self.phys.thermal_voltage / L0,
            "free_energy": comm.allreduce(self.model.energy(grid, u_ghost)) / area * E0 * L0,
        }

    def parameters(self, grid, u_ghost, comm, stopped_at: float | None) -> dict:
        from .li_params import T0
        from .metrics import deposit_summary

        summary = deposit_summary(grid, u_ghost, comm, self.front, self.phys)
        if stopped_at is not None:
            summary["short_circuit_time"] = (stopped_at * T0, "s", "time at which the deposit's tip came "
                                             "within short_circuit_gap of the counter electrode (the run ended)")
        return {name: Parameter(value, units, description, method="phase-field (bda_hpc.phasefield)")
                for name, (value, units, description) in summary.items()}


class CahnHilliardRun:
    columns = [("time", "1"), ("free_energy", "1"), ("mass", "1")]
    stop_progress = 0.0  # no end but t_end

    def __init__(self, settings: PhaseFieldSettings, param_paths, comm):
        from .cahn_hilliard import CahnHilliard

        ch = settings.cahn_hilliard
        self.model = CahnHilliard(ch.variant, settings.dim, mobility=ch.mobility, kappa=ch.kappa)
        self.upstream = {}

    def observe(self, grid, u_ghost, comm, volume0: float) -> dict:
        mass = comm.allreduce(float(u_ghost[grid.owned + (0,)].sum())) * float(np.prod(grid.spacing))
        return {"free_energy": comm.allreduce(self.model.energy(grid, u_ghost)), "mass": mass}

    def stop_reason(self, grid, u_owned, comm) -> str | None:
        return None

    def parameters(self, grid, u_ghost, comm, stopped_at: float | None) -> dict:
        return {}


RUNS = {"li_deposition": LiRun, "cahn_hilliard": CahnHilliardRun}


def run_stage(comm, config_path, out_dir, param_paths=(), restart: bool = False) -> Path:
    settings = load_section(config_path, "phasefield", PhaseFieldSettings)
    out = Path(out_dir)
    run = RUNS[settings.model](settings, list(param_paths), comm)
    model = run.model
    grid = Grid(comm, settings.cells, settings.spacing, model.dof, periodic=model.periodic, faces=model.faces(),
                field_names=model.fields, processors=settings.processors or None)
    options = {**solver_options(settings.model, settings.preconditioner), **settings.petsc}
    solver = PhaseFieldSolver(comm, grid, model, options=options, progress_every=settings.progress_seconds)
    try:
        return _integrate(comm, settings, config_path, out, run, grid, solver, param_paths, restart)
    finally:
        solver.destroy()
        grid.destroy()


def _checkpoint_identity(settings, model) -> dict:
    return {"model": model.describe(), "grid": {"cells": list(settings.cells), "spacing": list(settings.spacing)}}


def _integrate(comm, settings, config_path, out, run, grid, solver, param_paths, restart) -> Path:
    from .metrics import metal_volume

    model = run.model
    block = grid.block()
    names = list(model.fields)
    identity = _checkpoint_identity(settings, model)
    ckpt = out / "checkpoint.h5"
    if restart:
        fields, state = read_checkpoint(ckpt, names, block, comm, expect=identity)
        u0 = np.stack([fields[n].reshape(grid.own_size) for n in names], axis=-1)
        solver.set_state(u0, state["time"], state["step"], state["dt"])
        series = TimeSeries(run.columns, state["series"])
        outputs = [tuple(e) for e in state["outputs"]]
        volume0 = state["volume0"]
        stop_reason = state.get("stop_reason")
        log.info("restarting from %s at t = %.6g (step %d)", ckpt, solver.t, solver.step)
        if stop_reason:
            log.info("that run had ended: %s", stop_reason)
    else:
        if comm.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        comm.Barrier()
        solver.set_state(model.initial_state(grid))
        solver.make_consistent()
        u_ghost = grid.ghosted(solver.u)
        volume0 = metal_volume(grid, u_ghost[grid.owned + (0,)], comm) if settings.model == "li_deposition" else 0
        series = TimeSeries(run.columns)
        series.append({"time": 0.0, **run.observe(grid, u_ghost, comm, volume0)})
        outputs = []
        stop_reason = None

    def record(s, step, t, x):
        series.append({"time": t, **run.observe(grid, grid.ghosted(x), comm, volume0)})

    solver.step_callbacks.append(record)
    solver.stop_checks.append(lambda s, t, owned: run.stop_reason(grid, owned, comm))
    solver.progress_toward_stop = lambda: run.stop_progress
    solver.begin_run(settings.t_end)
    n_out = len(outputs)
    while stop_reason is None and solver.t < settings.t_end * (1 - 1e-12):
        target = min((n_out + 1) * settings.output_interval, settings.t_end)
        solver.advance(target, settings.dt_initial, settings.dt_max)
        stop_reason = solver.stop_reason
        if stop_reason:
            log.warning("t = %.6g: %s; the run ends here", solver.t, stop_reason)
        n_out += 1
        u = solver.state()
        name = f"fields_{n_out:05d}.h5"
        write_fields(out / name, _split(u, names, grid), block, comm, attrs={"time": solver.t, "step": solver.step})
        outputs.append((solver.t, name))
        if comm.rank == 0:
            write_xdmf_series(out / "fields.xmf", outputs, names, block)
            series.write(out)
        if settings.snapshots:
            _snapshot(out / f"snapshot_{n_out:05d}.png", u, grid, model, solver.t, comm)
        last = stop_reason is not None or solver.t >= settings.t_end * (1 - 1e-12)
        if n_out % settings.checkpoint_every == 0 or last:
            state = {**identity, "time": solver.t, "step": solver.step, "dt": solver.dt, "series": series.rows,
                     "outputs": outputs, "volume0": volume0, "stop_reason": stop_reason}
            write_checkpoint(ckpt, _split(u, names, grid), block, comm, state)
    u_ghost = grid.ghosted(solver.u)
    # a stopped run's state (and checkpoint) is the state at the stop
    params = run.parameters(grid, u_ghost, comm, solver.t if stop_reason else None)
    results = {"timeseries": {name: (series.column(name), units) for name, units in run.columns}}
    if run.upstream:
        results["upstream"] = {k: {kk: (np.asarray(vv, dtype=float), "1") for kk, vv in v.items()
                                   if not isinstance(vv, str)} for k, v in run.upstream.items()}
    if settings.model == "li_deposition":
        from .li_params import L0, T0

        results["scales"] = {"length": (np.float64(L0), "m"), "time": (np.float64(T0), "s")}
        results["physics"] = {k: (np.float64(v), "1") for k, v in asdict(run.phys).items()}
        target = out / "dendrite.h5"
        write_params(target, "phasefield", params, results=results, config=config_text(config_path),
                     inputs=[str(p) for p in param_paths], comm=comm)
    else:
        target = out / "timeseries.h5"
    log.info("phase-field done: t = %.6g in %d steps; outputs in %s", solver.t, solver.step, out)
    return target


def _split(u: np.ndarray, names, grid) -> dict:
    """Owned (nz, ny, nx, dof) as one array per field in io.fields order ((ny, nx) in 2D)."""
    return {n: np.ascontiguousarray(u[..., i] if grid.dim == 3 else u[0, ..., i]) for i, n in enumerate(names)}


def _snapshot(path, u, grid, model, t, comm) -> None:
    planes = {name: gather_plane(grid, u[..., i], comm) for i, name in enumerate(model.fields[:2])}
    if comm.rank == 0:
        snapshot_png(path, planes, grid.spacing, f"{model.name}  t = {t:.4g}")


def check_restart_possible(out_dir) -> None:
    ckpt = Path(out_dir) / "checkpoint.h5"
    if not ckpt.exists():
        raise InputError(f"--restart: no checkpoint {ckpt} (run without --restart first)", collective=True)
