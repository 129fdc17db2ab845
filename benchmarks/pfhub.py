"""PFHub benchmarks 1a/1b (Cahn–Hilliard) and 3 (Karma–Rappel dendrite) with bda_hpc.phasefield.

    python benchmarks/pfhub.py [--quick] [--np N] [--json PATH] [--cases A,B,..] [--t-end T] [--assemble]

Every benchmark is a list of named *cases* (one run each: model, cells, Δx,
t_end, step tolerance). A case writes its curves to ``<run dir>/<case>.json``
and an HDF5 checkpoint after every output segment (a few per decade of t),
so a run stopped at any time leaves usable curves and the next invocation
continues it; ``--t-end`` caps (or extends) the selected cases. After the
runs (or alone, with ``--assemble``) the cases found in the run directory are
combined into the JSON (keys ``bm1a``, ``bm1b``, ``bm3``: t, F (+ tip,
solid_fraction), wall_s, ranks, grid, and the grid/step-tolerance
convergence), CSVs of the curves and PNGs.

Full (run dir ``benchmarks/results/pfhub_runs``):
  BM1a/BM1b on the benchmark grid 200 × 200, Δx = 1 to t = 1e6 (``bm1a``),
  with Δx halved (``bm1a_dx0.5``) and a 10x tighter step tolerance
  (``bm1a_rtol1e-5``); the change of F(t) between them is reported.
  BM3 on a truncated quadrant (the 960 spec quadrant is 5.8 M cells at
  Δx = 0.4): side 400 at Δx = 0.8, 0.4, 0.2 and side 360 at Δx = 0.8 (the
  truncation does not matter) to t = 1500, side 240 at Δx = 1.6, 0.8, 0.4, 0.2 to
  t = 500 (as far as that box holds the tip and a diffusion length ahead of it);
  Δx = 0.2 on the 400 quadrant (8 M unknowns, ~8e4 CPU s) is the cluster job. What
  ran on the shared 2-core machine: side 96 at Δx = 0.8, 0.4, 0.2 (and Δx = 0.4
  with a 10x tighter step tolerance), side 192 at Δx = 0.8, side 400 at Δx = 0.8
  and 0.4, side 240 at Δx = 0.8, 0.4, 0.2 (Δx = 0.8 also with the 10x tighter tolerance).
  BM3 controls the step's error in the max norm; the ``_lte2`` cases are the
  earlier runs with the RMS norm (a larger box took larger steps there).
Quick (``pfhub_runs_quick``, ~2 CPU min): BM1 64², Δx = 3.125 to t = 1000,
checks to t = 200; BM3 48 quadrant at Δx = 0.8 and 0.4, 96 quadrant at Δx = 0.8,
to t = 30.

What ran on the shared 2-core VM (each stopped when time ran out; rerun to continue):
  python benchmarks/pfhub.py --cases bm1a,bm1b
  python benchmarks/pfhub.py --cases bm1a_rtol1e-5,bm1a_dx0.5 --t-end 200
  python benchmarks/pfhub.py --t-end 100 --cases bm3_L96_dx0.8_lte2,bm3_L96_dx0.4_lte2,bm3_L192_dx0.8_lte2,
      bm3_L96_dx0.2_lte2   (sessions 1-2, as one comma list)
  python benchmarks/pfhub.py --np 2 --cases bm3_L400_dx0.4_lte2      (sessions 5-8, resumed from checkpoints)
  python benchmarks/pfhub.py --t-end 100 --cases bm3_L96_dx0.8,bm3_L192_dx0.8,bm3_L96_dx0.4,bm3_L96_dx0.4_rtol1e-4,
      bm3_L96_dx0.2   (session 9, as one comma list)
  python benchmarks/pfhub.py --cases bm3_L400_dx0.8
  python benchmarks/pfhub.py --t-end 500 --cases bm3_L240_dx0.8,bm3_L240_dx0.4,bm3_L240_dx0.8_rtol1e-4
  python benchmarks/pfhub.py --quick --cases bm3_L48_dx0.8,bm3_L48_dx0.4,bm3_L96_dx0.8
  python benchmarks/pfhub.py --cases bm1a_dx0.5 ; ... --cases bm1b_dx0.5   (sessions 13-14, side by side, resumed)
  python benchmarks/pfhub.py --cases bm3_L240_dx0.2 --t-end 500             (session 14 on, resumed)
  python benchmarks/pfhub.py --assemble
Late BM1 times need a direct solver: past t ~ 1e5 (BM1a) GMRES + ILU took 250-350 iterations per Newton
step at the large steps (40 CPU s per step), MUMPS LU 1 (~10 s per step, dt doubling; since session 12 the LU
is GMRES's preconditioner, refactored every few Newton iterations (BM1_LAG): 3x less CPU time at 400²; since
session 14 with Eisenstat–Walker tolerances and OpenBLAS under MUMPS, 4.8x less again); early on ILU is
cheaper. A BM1 case therefore switches to MUMPS LU for good after a segment that needed more than
BM1_DIRECT_AFTER_GMRES_PER_NEWTON GMRES iterations per Newton step (the switch time is kept in the checkpoint
and the JSON, ``direct_solver_from_t``). Session 4 made the switch by hand, continuing from the checkpoints with
  PETSC_OPTIONS="-pf_pc_type lu -pf_pc_factor_mat_solver_type mumps" python benchmarks/pfhub.py --cases bm1a
(BM1a from t = 1.78e5 to 1e6; BM1b from t = 2371 to 1e5).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bda_hpc.convergence import grid_convergence

REPO = Path(__file__).resolve().parents[1]

# case name -> (model: 'a' | 'b' | '3', cells per side, Δx, t_end, step tolerance, norm of the step error).
# BM1 coarsens everywhere at once: the error's RMS over the grid ('2', PETSc's default). BM3's error sits at the
# tip: in the RMS the quiet far field dilutes it, and a larger box took larger steps (see stage.STEP_CONTROL),
# so BM3 uses the max norm ('infinity'); the '_lte2' cases are the runs of sessions 1-8, with the RMS.
FULL = {
    **{f"bm1{v}": (v, 200, 1.0, 1e6, 1e-4, "2") for v in "ab"},
    **{f"bm1{v}_dx0.5": (v, 400, 0.5, 1e6, 1e-4, "2") for v in "ab"},
    **{f"bm1{v}_rtol1e-5": (v, 200, 1.0, 1e6, 1e-5, "2") for v in "ab"},
    # the 240 quadrant holds the tip and a diffusion length D/v ~ 55 ahead of it to t = 500 (tip ~117; the 240
    # and 400 quadrants agree to 1e-4 there); its Δx = 0.2 is the finest grid measured here (session 15)
    **{f"bm3_L240_dx{dx:g}": ("3", int(round(240 / dx)), dx, 500.0, 1e-3, "infinity") for dx in (1.6, 0.8, 0.4, 0.2)},
    "bm3_L360_dx0.8": ("3", 450, 0.8, 1500.0, 1e-3, "infinity"),
    # what fits a shared 2-core machine: a 96 quadrant (grid sequence, step tolerance) and 192 / 400 quadrants
    **{f"bm3_L96_dx{dx:g}": ("3", int(round(96 / dx)), dx, 1500.0, 1e-3, "infinity") for dx in (0.8, 0.4, 0.2)},
    "bm3_L96_dx0.4_rtol1e-4": ("3", 240, 0.4, 1500.0, 1e-4, "infinity"),
    "bm3_L240_dx0.8_rtol1e-4": ("3", 300, 0.8, 500.0, 1e-4, "infinity"),
    "bm3_L192_dx0.8": ("3", 240, 0.8, 1500.0, 1e-3, "infinity"),
    # to t = 1500: the tip (~280 by then) plus a diffusion length D/v ~ 60 ahead of it fit a 400 quadrant
    **{f"bm3_L400_dx{dx:g}": ("3", int(round(400 / dx)), dx, 1500.0, 1e-3, "infinity") for dx in (0.8, 0.4, 0.2)},
    # sessions 1-8 (RMS step error): Δx 0.4 on the 400 quadrant is 1000² cells, 12009 CPU s to t = 1500 on 2 ranks
    **{f"bm3_L96_dx{dx:g}_lte2": ("3", int(round(96 / dx)), dx, 1500.0, 1e-3, "2") for dx in (0.8, 0.4, 0.2)},
    "bm3_L192_dx0.8_lte2": ("3", 240, 0.8, 1500.0, 1e-3, "2"),
    "bm3_L240_dx0.4_lte2": ("3", 600, 0.4, 1500.0, 1e-3, "2"),
    **{f"bm3_L400_dx{dx:g}_lte2": ("3", int(round(400 / dx)), dx, 1500.0, 1e-3, "2") for dx in (0.8, 0.4)},
}
QUICK = {
    **{f"bm1{v}": (v, 64, 3.125, 1000.0, 1e-4, "2") for v in "ab"},
    **{f"bm1{v}_dx0.5": (v, 128, 1.5625, 200.0, 1e-4, "2") for v in "ab"},
    **{f"bm1{v}_rtol1e-5": (v, 64, 3.125, 200.0, 1e-5, "2") for v in "ab"},
    "bm3_L48_dx0.8": ("3", 60, 0.8, 30.0, 1e-3, "infinity"),
    "bm3_L48_dx0.4": ("3", 120, 0.4, 30.0, 1e-3, "infinity"),
    "bm3_L96_dx0.8": ("3", 120, 0.8, 30.0, 1e-3, "infinity"),
}
BM1_SNAPSHOT_TIMES = (1e3, 1e4, 1e5, 1e6)  # PFHub 1 asks for c at these times
# BM1 switches from GMRES + ILU to MUMPS LU for the rest of a case after a segment that needed more GMRES
# iterations per Newton step than this: late (few, large particles; dt ~ 1e4) ILU took 250-350 (40 CPU s a
# step) where LU takes ~10 s and lets dt double; early on ILU takes < 20 and is the cheaper one
BM1_DIRECT_AFTER_GMRES_PER_NEWTON = 60
# Newton iterations between preconditioner rebuilds for BM1: 4 rather than the stage's 16, for the LU phase (session
# 14, 400², t = 237 -> 316, Eisenstat–Walker on, OpenBLAS under MUMPS: 71 -> 42 CPU s; every 8th 46 s, every 2nd
# 52 s; a factorisation costs ~11 triangular solves; every 16th: 65 Newton iterations, 421 solves, 5
# factorisations, every 4th: 53, 139, 14). The ILU phase does not care (200² to t = 300: 25.0 vs 24.5 s).
BM1_LAG = 4


def _segments(t_end: float, bm1: bool) -> list[float]:
    """Segment ends: 8 per decade for BM1 (log-spaced physics), every 25 time units for BM3."""
    if bm1:
        ts = np.geomspace(1.0, 1e6, 49)
        return [float(t) for t in ts if t < t_end * (1 - 1e-9)] + [t_end]
    return [float(t) for t in np.arange(25.0, t_end, 25.0)] + [t_end]


def run_case(name: str, spec: tuple, run_dir: Path) -> None:
    """One case on COMM_WORLD, resumed from ``<name>.ckpt.h5`` if present; curves to ``<name>.json``."""
    import petsc4py

    petsc4py.init(sys.argv[:1])
    from mpi4py import MPI

    from bda_hpc.io.fields import read_checkpoint, write_checkpoint
    from bda_hpc.parallel import setup_logging
    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.output import gather_plane, snapshot_png
    from bda_hpc.phasefield.solver import PhaseFieldSolver
    from bda_hpc.phasefield.stage import _split, solver_options

    comm = MPI.COMM_WORLD
    setup_logging(comm)  # the solver's progress line (every 60 s) on rank 0
    kind, n, dx, t_end, rtol, lte_norm = spec
    bm1 = kind in "ab"
    if bm1:
        from bda_hpc.phasefield.cahn_hilliard import CahnHilliard

        model = CahnHilliard(kind)
        options = solver_options("cahn_hilliard")  # GMRES + block-Jacobi/ILU (LU is 25x slower, periodic)
        options["snes_lag_preconditioner"] = str(BM1_LAG)
    else:
        from bda_hpc.phasefield.karma_rappel import KarmaRappel

        model = KarmaRappel()
        options = solver_options("karma_rappel")
    options.update({"ts_rtol": str(rtol), "ts_atol": str(rtol), "ts_adapt_wnormtype": lte_norm})
    grid = Grid(comm, (n, n), (dx, dx), model.dof, periodic=model.periodic, faces=model.faces(),
                field_names=model.fields)
    s = PhaseFieldSolver(comm, grid, model, options=options, progress_every=60.0)
    identity = {"model": model.describe(), "cells": [n, n], "dx": dx, "rtol": rtol, "lte_norm": lte_norm}
    ckpt, curves_path = run_dir / f"{name}.ckpt.h5", run_dir / f"{name}.json"
    names = list(model.fields)
    if ckpt.exists():
        fields, state = read_checkpoint(ckpt, names, grid.block(), comm, expect=identity)
        s.set_state(np.stack([fields[f].reshape(grid.own_size) for f in names], axis=-1), state["time"],
                    state["step"], state["dt"])
        curves, wall0, cpu0 = state["curves"], state["wall_s"], state["cpu_s"]
        direct_from = state.get("direct_from")
    else:
        s.set_state(model.initial_state(grid))
        s.make_consistent()
        curves, wall0, cpu0 = {k: [] for k in ("t", "F", "mass", "tip", "solid_fraction")}, 0.0, 0.0
        direct_from = None
        _observe(s, grid, model, comm, curves, 0.0, s.u, bm1)
    s.step_callbacks.append(lambda solver, step, t, x: _observe(solver, grid, model, comm, curves, t, x, bm1))
    if direct_from is not None:
        _use_direct_solver(s)
    t0, c0 = time.perf_counter(), time.process_time()
    s.begin_run(t_end)
    for target in _segments(t_end, bm1):
        if target <= s.t * (1 + 1e-12):
            continue
        snes0, ksp0 = s.ts.getSNESIterations(), s.ts.getKSPIterations()
        s.advance(target, 1e-2, max(target / 10, 1e-2) if bm1 else 5.0)
        per_newton = (s.ts.getKSPIterations() - ksp0) / max(s.ts.getSNESIterations() - snes0, 1)
        if bm1 and direct_from is None and per_newton > BM1_DIRECT_AFTER_GMRES_PER_NEWTON:
            direct_from = s.t
            _use_direct_solver(s)
            if comm.rank == 0:
                print(f"{name}: {per_newton:.0f} GMRES per Newton step up to t = {s.t:.4g}; MUMPS LU from here",
                      flush=True)
        wall = wall0 + time.perf_counter() - t0
        cpu = cpu0 + comm.allreduce(time.process_time() - c0)
        state = {**identity, "time": s.t, "step": s.step, "dt": s.dt, "curves": curves, "wall_s": wall,
                 "cpu_s": cpu, "direct_from": direct_from}
        write_checkpoint(ckpt, _split(s.state(), names, grid), grid.block(), comm, state)
        snap = [t for t in BM1_SNAPSHOT_TIMES if abs(t - s.t) < 1e-6 * t] if bm1 else ([s.t] if s.t >= t_end else [])
        plane = gather_plane(grid, s.state()[..., 0], comm) if snap else None
        if comm.rank == 0:
            if plane is not None:
                snapshot_png(run_dir / f"{name}_t{s.t:g}.png", {names[0]: plane}, grid.spacing,
                             f"{name}  t = {s.t:g}", length_unit="")  # PFHub's units: W0 (BM3), none (BM1)
            out = {"case": name, "model": kind, "grid": [n, n], "dx": dx, "t_end": t_end, "ts_rtol": rtol,
                   "lte_norm": lte_norm, "t_reached": s.t, "direct_solver_from_t": direct_from,
                   "complete": s.t >= t_end * (1 - 1e-12), "steps": s.step, "ranks": comm.size,
                   "wall_s": wall, "cpu_s": cpu, "machine": os.uname().nodename,
                   "load_avg": os.getloadavg()[0], **{k: v for k, v in curves.items() if v}}
            tmp = curves_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(out))
            os.replace(tmp, curves_path)
    s.destroy()
    grid.destroy()


def _use_direct_solver(solver) -> None:
    # GMRES stays, with the LU factors rebuilt only every BM1_LAG Newton iterations: 3x less CPU time at 400²
    # than a fresh factorisation with preonly (session 12)
    pc = solver.ts.getSNES().getKSP().getPC()
    pc.setType("lu")
    pc.setFactorSolverType("mumps")


def _observe(solver, grid, model, comm, curves, t, x, bm1) -> None:
    u = grid.ghosted(x)
    curves["t"].append(float(t))
    curves["F"].append(comm.allreduce(model.energy(grid, u)))
    if bm1:
        curves["mass"].append(comm.allreduce(float(u[grid.owned + (0,)].sum())) * float(np.prod(grid.spacing)))
    else:
        tip, solid = model.tip_and_solid_fraction(grid, u[grid.owned], comm)
        curves["tip"].append(tip)
        curves["solid_fraction"].append(solid)


# ---------------------------------------------------------------------------- driver


def _run_subprocess(np_: int, name: str, spec: tuple, run_dir: Path) -> None:
    from bda_hpc.launch import mpiexec_command

    cmd = ([] if np_ == 1 else mpiexec_command(np_)) + [sys.executable, __file__, "--worker", name, str(run_dir),
                                                          json.dumps(spec)]
    print(f"running {name}: {spec} on {np_} rank(s)", flush=True)
    r = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO)
    if r.returncode != 0:
        raise SystemExit(f"PFHub case {name} failed (exit {r.returncode}); its last checkpoint is kept")


def _load(run_dir: Path, name: str) -> dict | None:
    path = run_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _compare(ref: dict, other: dict, key: str) -> dict:
    """Relative change of curve ``key`` between two runs over their common times (ref's samples)."""
    t_common = min(ref["t_reached"], other["t_reached"])
    t = np.asarray(ref["t"])
    sel = (t > 0) & (t <= t_common)
    a = np.asarray(ref[key])[sel]
    b = np.interp(t[sel], other["t"], other[key])
    rel = np.abs(b / a - 1)
    i = int(np.argmax(rel))
    end_a = float(np.interp(t_common, ref["t"], ref[key]))
    end_b = float(np.interp(t_common, other["t"], other[key]))
    return {"case": other["case"], "t_common": t_common, "max_rel_diff": float(rel[i]), "t_of_max": float(t[sel][i]),
            "value_at_end": end_a, "other_at_end": end_b, "rel_diff_at_end": abs(end_b / end_a - 1)}


def flat_interface_energy(prm, length: float, h: float) -> dict:
    """F of one flat Cahn–Hilliard interface across a box of side ``length`` (BM1b's end state, c̄ = 0.5):
    the discrete 1D equilibrium at spacing h (same energy sum as the solver: cell f, face gradients) and the
    continuum line energy L·√(2κρ)(c_β − c_α)³/6, an independent reference for F(10⁶)."""
    from scipy.optimize import minimize

    rho, ca, cb, _, kappa = prm
    n = int(round(length / h))
    y = (np.arange(n) + 0.5) * h

    def energy(x):
        c = x - x.mean() + 0.5  # mass held at the benchmark's mean
        g = np.diff(c) / h
        dfdc = 2 * rho * (c - ca) * (cb - c) * (ca + cb - 2 * c)
        grad = dfdc * h
        grad[:-1] -= kappa * g
        grad[1:] += kappa * g
        return (rho * ((c - ca) * (cb - c)) ** 2).sum() * h + 0.5 * kappa * (g ** 2).sum() * h, grad - grad.mean()

    res = minimize(energy, 0.5 + 0.2 * np.tanh((y - length / 2) / 2), jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-15})
    return {"discrete": float(res.fun * length), "continuum": float(length * line_energy(prm))}


def line_energy(prm) -> float:
    """σ, the continuum energy per unit length of a flat interface: √(2κρ)(c_β − c_α)³/6."""
    rho, ca, cb, _, kappa = prm
    return float(np.sqrt(2 * kappa * rho) * (cb - ca) ** 3 / 6)


def _flat_interface_check(res: dict) -> dict:
    """BM1b's end state against one flat interface at the run's Δx (discrete) and in the continuum."""
    from bda_hpc.phasefield.cahn_hilliard import CahnHilliard

    ref = flat_interface_energy(CahnHilliard("b").prm, res["grid"][0] * res["dx"], res["dx"])
    print(f"{res['case']} end state = one flat interface: F {res['F'][-1]:.6f}, discrete 1D equilibrium at "
          f"Δx = {res['dx']:g} {ref['discrete']:.6f}, continuum line energy {ref['continuum']:.6f}")
    return {**ref, "rel_diff_discrete": res["F"][-1] / ref["discrete"] - 1,
            "rel_diff_continuum": res["F"][-1] / ref["continuum"] - 1}


def _disk_check(res: dict) -> dict:
    """BM1a's end state, one disk of the c_β phase, against the continuum energy 2πRσ of a sharp circle whose
    radius holds the run's mass (phases at c_α, c_β; σ the flat interface's line energy): no discrete reference,
    so this is what F(10⁶) should converge to, up to O(width/R) and Gibbs–Thomson corrections."""
    from bda_hpc.phasefield.cahn_hilliard import CahnHilliard

    prm = CahnHilliard("a").prm
    _, ca, cb, _, _ = prm
    area = float(np.prod(np.asarray(res["grid"]) * res["dx"]))
    radius = np.sqrt((res["mass"][-1] / area - ca) / (cb - ca) * area / np.pi)
    continuum = 2 * np.pi * radius * line_energy(prm)
    print(f"{res['case']} end state = one disk: F {res['F'][-1]:.6f}, continuum 2πRσ {continuum:.6f} "
          f"(R = {radius:.3f} from the mass)")
    return {"radius": float(radius), "continuum": float(continuum), "rel_diff_continuum": res["F"][-1] / continuum - 1}


def _settle_time(res: dict, rel: float = 1e-3) -> float:
    """First time after which F stays within ``rel`` of its final value (the last coarsening event)."""
    F = np.asarray(res["F"])
    above = np.nonzero(F - F[-1] > rel * abs(F[-1]))[0]
    return float(res["t"][above[-1] + 1]) if above.size else 0.0


def assemble(cases: dict, run_dir: Path, json_path: Path) -> int:
    out = {"benchmark": "pfhub", "run_dir": str(run_dir.relative_to(REPO)), "machine": os.uname().nodename}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    for v in "ab":
        res = _load(run_dir, f"bm1{v}")
        if res is None:
            continue
        mass = np.asarray(res["mass"])
        res["mass_drift_rel"] = float(np.max(np.abs(mass - mass[0])) / mass[0])
        res["energy_monotone"] = bool(np.all(np.diff(res["F"]) <= 1e-9 * abs(res["F"][0])))
        res["t_settle"] = _settle_time(res) if res["complete"] else None
        partners = [o for o in (_load(run_dir, f"bm1{v}_{s}") for s in ("dx0.5", "rtol1e-5")) if o is not None]
        res["convergence"] = [_compare(res, o, "F") for o in partners]
        # by t = 1e6 (not in --quick) one flat interface (1b) or one disk across the periodic boundary (1a; the
        # t = 1e6 snapshots of both grids)
        for run, summary in [(res, res)] + list(zip(partners, res["convergence"])):
            if run["t_reached"] >= 1e6 * (1 - 1e-12):
                if v == "b":
                    summary["flat_interface_reference"] = _flat_interface_check(run)
                else:
                    summary["disk_reference"] = _disk_check(run)
        out[f"bm1{v}"] = res
        np.savetxt(json_path.with_name(f"{json_path.stem}_bm1{v}.csv"), np.column_stack([res["t"], res["F"], mass]),
                   delimiter=",", header="t,F,mass", comments="")
        print(f"BM1{v}: {res['grid']} dx={res['dx']:g} t={res['t_reached']:g}/{res['t_end']:g} steps={res['steps']} "
              f"wall={res['wall_s']:.0f}s cpu={res['cpu_s']:.0f}s F(0)={res['F'][0]:.3f} F(end)={res['F'][-1]:.3f} "
              f"mass drift={res['mass_drift_rel']:.1e} monotone={res['energy_monotone']}"
              + (f" F settles (0.1 %) at t={res['t_settle']:.3g}" if res["complete"] else " (incomplete)"))
        for c in res["convergence"]:
            print(f"   vs {c['case']:16s} to t={c['t_common']:<8.3g} max |ΔF/F| {c['max_rel_diff']:.2e} "
                  f"(at t={c['t_of_max']:.3g}), at the end {c['rel_diff_at_end']:.2e}")
    bm3 = {name: r for name in cases if name.startswith("bm3") and (r := _load(run_dir, name)) is not None}
    if bm3:
        out["bm3"] = _assemble_bm3(bm3)
        b = out["bm3"]
        np.savetxt(json_path.with_name(f"{json_path.stem}_bm3.csv"),
                   np.column_stack([b["t"], b["F"], b["tip"], b["solid_fraction"]]), delimiter=",",
                   header="t,F,tip,solid_fraction", comments="")
    json_path.write_text(json.dumps(out))
    _plot(out, bm3, json_path)
    print(f"JSON: {json_path}")
    return 0


def _domain(r: dict) -> float:
    return r["grid"][0] * r["dx"]


def _one_setting_varied(runs: dict, varied: str, coarse_first: bool) -> list[tuple[dict, list]]:
    """Groups of runs that share every setting but ``varied`` (domain, dx, ts_rtol), each group in order of that
    setting (largest first when ``coarse_first``): (the shared settings, the runs), for groups of two or more."""
    def settings(r):
        return {"domain": _domain(r), "dx": r["dx"], "ts_rtol": r["ts_rtol"], "lte_norm": r["lte_norm"]}

    groups: dict[tuple, list] = {}
    for r in runs.values():
        shared = {k: v for k, v in settings(r).items() if k != varied}
        groups.setdefault(tuple(shared.items()), []).append(r)
    return [(dict(key), sorted(groups[key], key=lambda r: settings(r)[varied], reverse=coarse_first))
            for key in sorted(groups) if len(groups[key]) > 1]


def _neighbour_changes(seq: list) -> list:
    """Tip comparisons neighbour to neighbour along one group: like is compared with like."""
    return [{**_compare(a, b, "tip"), "reference": a["case"]} for a, b in zip(seq, seq[1:])]


def _label(k: dict) -> str:
    return f"L{k['domain']:g}_rtol{k['ts_rtol']:g}_lte{k['lte_norm']}"


def _tip_orders(dx_groups: list[tuple[dict, list]]) -> dict:
    """For every grid sequence of three or more runs (Δx halved each time, all else shared; ``dx_groups`` from
    :func:`_one_setting_varied`): the tip of each grid every 25 time units up to the time all of them reached, its
    changes, observed order and Richardson value."""
    out = {}
    for k, seq in dx_groups:
        if len(seq) < 3 or any(not np.isclose(a["dx"], 2 * b["dx"]) for a, b in zip(seq, seq[1:])):
            continue
        t_common = min(r["t_reached"] for r in seq)
        out[_label(k)] = {f"{t:g}": grid_convergence([float(np.interp(t, r["t"], r["tip"])) for r in seq])
                          for t in np.arange(25.0, t_common + 1e-9, 25.0)}
    return out


def _assemble_bm3(runs: dict) -> dict:
    """The curves of the run that got furthest (the finest of those); the grid sequences, step-tolerance and
    domain-size checks at the times the compared runs share."""
    headline = min(runs.values(), key=lambda r: (-r["t_reached"], r["dx"]))
    res = {**headline, "cases": {}}
    for name, r in sorted(runs.items()):
        t = np.asarray(r["t"])
        late = t >= 0.7 * r["t_reached"]
        v = float(np.polyfit(t[late], np.asarray(r["tip"])[late], 1)[0]) if late.sum() > 2 else float("nan")
        res["cases"][name] = {"dx": r["dx"], "domain": _domain(r), "t_reached": r["t_reached"], "tip_end": r["tip"][-1],
                              "tip_velocity_late": v, "wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "ranks": r["ranks"]}
        print(f"BM3 {name:16s} L={_domain(r):g} dx={r['dx']:g} t={r['t_reached']:g} tip={r['tip'][-1]:.2f} "
              f"v_tip(last 30 %)={v:.4f} wall={r['wall_s']:.0f}s cpu={r['cpu_s']:.0f}s")
    dx_groups = _one_setting_varied(runs, "dx", coarse_first=True)
    res["grid_sequences"] = {_label(k): _neighbour_changes(seq) for k, seq in dx_groups}
    res["tip_order"] = _tip_orders(dx_groups)
    res["step_tolerance"] = [c for _, seq in _one_setting_varied(runs, "ts_rtol", coarse_first=True)
                             for c in _neighbour_changes(seq)]
    res["domain_checks"] = [c for _, seq in _one_setting_varied(runs, "domain", coarse_first=False)
                            for c in _neighbour_changes(seq)]
    for label, seq in res["grid_sequences"].items():
        for c in seq:
            print(f"   {label} grid dx {runs[c['reference']]['dx']:g} -> {runs[c['case']]['dx']:g}: tip change at "
                  f"t={c['t_common']:g}: {c['rel_diff_at_end']:.2%} (largest {c['max_rel_diff']:.2%})")
    for label, by_time in res["tip_order"].items():
        for t, g in by_time.items():
            print(f"   {label} tip at t={t}: " + " -> ".join(f"{x:.3f}" for x in g["values"]) + "; change "
                  + ", ".join(f"{x:+.2%}" for x in g["change_to_next_grid"]) + "; observed order "
                  + ", ".join("none" if p is None else f"{p:.2f}" for p in g["observed_order"])
                  + (f"; Richardson {g['extrapolated']:.3f}" if "extrapolated" in g else ""))
    for c in res["step_tolerance"]:
        print(f"   {c['reference']} -> {c['case']}: tip change at t={c['t_common']:g}: {c['rel_diff_at_end']:.2%} "
              f"(largest {c['max_rel_diff']:.2%})")
    for c in res["domain_checks"]:
        a, b = runs[c["reference"]], runs[c["case"]]
        print(f"   domain {_domain(a):g} -> {_domain(b):g} at dx {a['dx']:g}, lte {a['lte_norm']}: tip change at "
              f"t={c['t_common']:g}: {c['rel_diff_at_end']:.2%}")
    return res


def _plot(out: dict, bm3_runs: dict, json_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bm1 = [v for v in "ab" if f"bm1{v}" in out]
    if bm1:
        # top: F(t); bottom: each partner run against the benchmark-grid run (the curves overlap at the top)
        fig, axes = plt.subplots(2, len(bm1), figsize=(6 * len(bm1), 7), squeeze=False, sharex=True)
        run_dir = REPO / out["run_dir"]
        for col, v in enumerate(bm1):
            ref = out[f"bm1{v}"]
            for i, suffix in enumerate(("", "_dx0.5", "_rtol1e-5")):
                r = _load(run_dir, f"bm1{v}{suffix}")
                if r is None:
                    continue
                t, F = np.asarray(r["t"]), np.asarray(r["F"])
                axes[0, col].loglog(np.maximum(t, 1e-2), F, color=f"C{i}",
                                    label=f"{r['grid'][0]}², Δx={r['dx']:g}, rtol={r['ts_rtol']:g}")
                if suffix:
                    shared = t <= ref["t_reached"]
                    axes[1, col].semilogx(np.maximum(t[shared], 1e-2),
                                          100 * (F[shared] / np.interp(t[shared], ref["t"], ref["F"]) - 1),
                                          color=f"C{i}")
            axes[0, col].set_title(f"PFHub 1{v}")
            axes[0, col].set_ylabel("total free energy F")
            axes[0, col].legend(fontsize=8)
            axes[1, col].set_ylabel("F against Δx = 1, rtol 1e-4 (%)")
            axes[1, col].set_xlabel("t")
        fig.tight_layout()
        fig.savefig(json_path.with_name(json_path.stem + "_bm1.png"), dpi=100)
        plt.close(fig)
    if bm3_runs:
        # right: every run against one reference (the longest max-norm run, the coarsest of those), so the
        # grid, step-tolerance and norm effects show as separate offsets; colour = Δx, line = norm and rtol
        ref = min(bm3_runs.values(), key=lambda r: (r["lte_norm"] != "infinity", -r["t_reached"], -r["dx"]))
        colours = {dx: f"C{i}" for i, dx in enumerate(sorted({r["dx"] for r in bm3_runs.values()}, reverse=True))}
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for _name, r in sorted(bm3_runs.items()):
            t, tip = np.asarray(r["t"]), np.asarray(r["tip"])
            style = ("-" if r["lte_norm"] == "infinity" else "--") if r["ts_rtol"] >= 1e-3 else ":"
            label = (f"L={_domain(r):g}, Δx={r['dx']:g}, rtol={r['ts_rtol']:g}, "
                     f"{'max' if r['lte_norm'] == 'infinity' else 'RMS'} error")
            axes[0].plot(t, tip, style, color=colours[r["dx"]], label=label)
            shared = (t >= 10) & (t <= ref["t_reached"])
            axes[1].plot(t[shared], 100 * (tip[shared] / np.interp(t[shared], ref["t"], ref["tip"]) - 1), style,
                         color=colours[r["dx"]])
        axes[0].set_ylabel("tip position (φ = 0 on the x axis)")
        axes[0].legend(fontsize=7)
        axes[1].set_ylabel(f"tip against {ref['case']} (%)")
        for ax in axes:
            ax.set_xlabel("t")
        fig.suptitle("PFHub 3 (colour: Δx; solid: max-norm step error, dashed: RMS, dotted: rtol 1e-4)")
        fig.tight_layout()
        fig.savefig(json_path.with_name(json_path.stem + "_bm3.png"), dpi=100)
        plt.close(fig)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        run_case(sys.argv[2], tuple(json.loads(sys.argv[4])), Path(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small grids, short times (~2 CPU min)")
    ap.add_argument("--np", type=int, default=1, help="MPI ranks per case")
    ap.add_argument("--json", default=None, help="default benchmarks/results/pfhub[_quick].json")
    ap.add_argument("--cases", default=None, help="comma-separated case names (default: all); full: " +
                    ", ".join(FULL))
    ap.add_argument("--t-end", type=float, default=None, help="end time for the selected cases (default: each "
                    "case's own); a case continues from its checkpoint")
    ap.add_argument("--assemble", action="store_true", help="only combine the finished/partial cases into the JSON")
    args = ap.parse_args()
    cases = QUICK if args.quick else FULL
    run_dir = REPO / "benchmarks" / "results" / ("pfhub_runs_quick" if args.quick else "pfhub_runs")
    json_path = Path(args.json or f"benchmarks/results/pfhub{'_quick' if args.quick else ''}.json")
    selected = args.cases.split(",") if args.cases else list(cases)
    unknown = [c for c in selected if c not in cases]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {', '.join(cases)}")
    if not args.assemble:
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in selected:
            kind, n, dx, t_end, rtol, lte_norm = cases[name]
            done = _load(run_dir, name)
            t_end = args.t_end or t_end
            if done is not None and done["t_reached"] >= t_end * (1 - 1e-12):
                print(f"{name}: already at t = {done['t_reached']:g}")
                continue
            _run_subprocess(args.np, name, (kind, n, dx, t_end, rtol, lte_norm), run_dir)
    return assemble(cases, run_dir, json_path)


if __name__ == "__main__":
    sys.exit(main())
