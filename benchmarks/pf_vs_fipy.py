"""The same 2D Li electrodeposition problem in FiPy and in bda_hpc, same grid, timed at matched accuracy.

    python benchmarks/pf_vs_fipy.py [--quick] [--json PATH]
    python benchmarks/pf_vs_fipy.py --convergence --json benchmarks/results/pf_li_convergence.json

Both codes discretise the REFERENCES §1 model (isotropic and without the ion
limit: FiPy has no built-in anisotropic gradient term, and every physics
switch is set explicitly in :func:`problem`) with cell-centred finite
volumes, face-value Dirichlet conditions and the exponential
(Scharfetter–Gummel) scheme for migration; both start from bda_hpc's
consistent initial state.

Accuracy: the error of each run is the largest difference of ξ, c and
φ/φ_applied at t_end from a common reference, bda_hpc with adaptive BDF at
``ts_rtol`` 1e-7. That reference is valid for FiPy too because the two
spatial discretisations are the same: with the same fixed backward-Euler
step the codes agree to ``max_field_diff`` (reported). bda_hpc runs
adaptive BDF (Newton–Krylov, LU) at several step tolerances; FiPy runs
backward Euler (its only implicit scheme) at several fixed steps, each step
swept with the sources linearised in all three fields (a Newton step apart
from the lagged ∇φ in the migration term) until no field changes by more
than 1e-9 between sweeps. The work-precision curves of both codes give
``speedup``: FiPy's CPU time at the error of the timed bda_hpc run
(interpolated on FiPy's measured curve, log-log; extrapolated with its
observed order only when the runs do not bracket it, and then flagged)
over bda_hpc's CPU time. Wall times are in the JSON too.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# The LiPhysical fields run_fipy implements. A field not listed here (a new physics switch) stops the benchmark
# until run_fipy implements it and problem() sets it explicitly, so both codes keep solving the same equations.
FIPY_IMPLEMENTS = {
    "interface_mobility", "gradient_coefficient", "barrier_height", "reaction_constant", "transfer_coefficient",
    "electrons", "temperature", "bulk_concentration", "site_density", "diffusivity_electrode",
    "diffusivity_electrolyte", "conductivity_electrode", "conductivity_electrolyte", "applied_potential",
    "anisotropy", "ion_limit_concentration", "conductivity_li_share"}
# isotropic; Chen et al.'s rate (no ion limit) and constant electrolyte conductivity (the only one run_fipy has)
SWITCHES = {"anisotropy": 0.0, "ion_limit_concentration": 0.0, "conductivity_li_share": 0.0}
REFERENCE_RTOL = 1e-7
BDA_RTOLS = (1e-2, 1e-3, 1e-4)   # 1e-4 is the stage's default
SWEEP_TOL = 1e-9                 # FiPy: largest field change between sweeps that ends a step


def problem(quick: bool):
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical

    unknown = {f.name for f in dataclasses.fields(LiPhysical)} - FIPY_IMPLEMENTS
    if unknown:
        raise SystemExit(f"pf_vs_fipy: LiPhysical has physics field(s) {sorted(unknown)} that the FiPy side does "
                         "not implement; add them to run_fipy and set them explicitly in problem()")
    nx, ny, t_end, dts = (40, 24, 0.2, (0.02, 0.01, 0.005)) if quick else (100, 60, 1.0, (0.04, 0.02, 0.01, 0.005))
    model = LiDeposition.from_physical(LiPhysical(**SWITCHES), 2, front=8.0, nuclei=[(ny / 2, 3.0)])
    return model, (nx, ny), t_end, dts


def run_bda(model, cells, t_end, options, dt_initial=1e-3):
    """bda_hpc from the consistent initial state to t_end: (start, end, wall_s, cpu_s, steps)."""
    from mpi4py import MPI

    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.solver import PhaseFieldSolver
    from bda_hpc.phasefield.stage import LAGGED_PRECONDITIONER, MODEL_OPTIONS

    comm = MPI.COMM_SELF
    grid = Grid(comm, cells, (1.0, 1.0), 3, faces=model.faces(), field_names=model.fields)
    # the stage's Li linear solver (Schur split, BoomerAMG on φ) and its lagged rebuilds
    s = PhaseFieldSolver(comm, grid, model, options={"snes_rtol": "1e-8", "snes_atol": "1e-9",
                                                     **MODEL_OPTIONS["li_deposition"], **LAGGED_PRECONDITIONER,
                                                     **options}, progress_every=1e9)
    s.set_state(model.initial_state(grid))
    s.make_consistent()
    start = s.state()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    s.advance(t_end, dt_initial, t_end / 4)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    end, steps = s.state()[0], s.step
    s.destroy()
    grid.destroy()
    return start, end, wall, cpu, steps


def _implicit_source_term(fp):
    """FiPy's ImplicitSourceTerm, always in the matrix.

    FiPy moves the part of a source whose sign would weaken the diagonal to the
    right-hand side, evaluated with the current iterate. For the coupling
    sources here (ξ in the c and φ equations, c and φ in the ξ equation) that
    lags the coupling: the sweeps then contract only by ~0.9 at dt = 0.002 and
    diverge at dt = 0.02. All in the matrix, a sweep is a Newton step.
    """

    class CoupledSource(fp.ImplicitSourceTerm):
        def _getWeight(self, var, transientGeomCoeff=None, diffusionGeomCoeff=None):
            weight = super()._getWeight(var, transientGeomCoeff, diffusionGeomCoeff)
            weight["diagonal"] = np.ones_like(weight["diagonal"], dtype=bool)
            weight["b vector"] = np.zeros(var.shape)
            return weight

    return CoupledSource


def run_fipy(model, cells, start, t_end, dt):
    """FiPy, backward Euler with fixed dt: (end, wall_s, cpu_s, sweeps, worst last-sweep change)."""
    import fipy as fp

    from bda_hpc.phasefield import li_deposition as L

    p = model.prm
    nx, ny = cells
    mesh = fp.Grid2D(nx=nx, ny=ny, dx=1.0, dy=1.0)
    xi, c, phi = (fp.CellVariable(mesh=mesh, value=start[..., i].ravel(), hasOld=True) for i in range(3))
    xi.constrain(1.0, mesh.facesLeft)
    xi.constrain(0.0, mesh.facesRight)
    c.constrain(1.0, mesh.facesRight)
    phi.constrain(model.phi_applied, mesh.facesLeft)
    phi.constrain(0.0, mesh.facesRight)

    alpha, w, l_eta = p[L.ALPHA], p[L.W_BARRIER], p[L.L_ETA]
    h = xi ** 3 * (6 * xi ** 2 - 15 * xi + 10)
    dh = 30 * xi ** 2 * (1 - xi) ** 2
    d2h = 60 * xi * (1 - xi) * (1 - 2 * xi)
    ea, eb = fp.numerix.exp((1 - alpha) * phi), fp.numerix.exp(-alpha * phi)
    # rate S(ξ, c, φ) of ∂ξ/∂t (besides the gradient term) and its derivatives: S ≈ S* + Σ ∂S/∂v (v - v*)
    rate = -p[L.L_SIGMA] * 2 * w * xi * (1 - xi) * (1 - 2 * xi) - l_eta * dh * (ea - c * eb)
    d_xi = -p[L.L_SIGMA] * 2 * w * (1 - 6 * xi + 6 * xi ** 2) - l_eta * d2h * (ea - c * eb)
    d_c = l_eta * dh * eb
    d_phi = -l_eta * dh * ((1 - alpha) * ea + alpha * c * eb)
    diff = (p[L.D_S] * h + p[L.D_L] * (1 - h)).faceValue
    sigma = (p[L.SIG_S] * h + p[L.SIG_L] * (1 - h)).faceValue
    source = _implicit_source_term(fp)
    eq_xi = (fp.TransientTerm(var=xi) == fp.DiffusionTerm(coeff=p[L.L_SIGMA] * p[L.KAPPA], var=xi)
             + source(coeff=d_xi, var=xi) + source(coeff=d_c, var=c) + source(coeff=d_phi, var=phi)
             + rate - d_xi * xi - d_c * c - d_phi * phi)
    eq_c = (fp.TransientTerm(var=c) + fp.ExponentialConvectionTerm(coeff=-diff * phi.faceGrad, var=c)
            == fp.DiffusionTerm(coeff=diff, var=c) - source(coeff=p[L.RATIO_CS] / dt, var=xi)
            + p[L.RATIO_CS] * xi.old / dt)
    eq_phi = (fp.DiffusionTerm(coeff=sigma, var=phi)
              == source(coeff=p[L.POISSON] / dt, var=xi) - p[L.POISSON] * xi.old / dt)
    eq = eq_xi & eq_c & eq_phi
    # "initial": the LU residual relative to the start of the solve; the default (RHS norm) is dominated by the
    # metal rows of the φ equation (σ = 1e7 S/m) and accepts the unchanged initial guess
    solver = fp.LinearLUSolver(tolerance=1e-10, criterion="initial", iterations=10)
    scale = np.array([1.0, 1.0, abs(model.phi_applied)])
    n_steps = int(round(t_end / dt))
    sweeps, worst = 0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_steps):
        for var in (xi, c, phi):
            var.updateOld()
        for _sweep in range(30):
            before = [np.array(v.value) for v in (xi, c, phi)]
            eq.sweep(dt=dt, solver=solver)
            sweeps += 1
            change = max(float(np.max(np.abs(v.value - b))) / s for v, b, s in zip((xi, c, phi), before, scale))
            if change < SWEEP_TOL:
                break
        worst = max(worst, change)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    end = np.stack([np.asarray(v.value).reshape(ny, nx) for v in (xi, c, phi)], axis=-1)
    return end, wall, cpu, sweeps, worst


def field_error(a: np.ndarray, b: np.ndarray, phi_applied: float) -> float:
    """Largest difference of ξ, c and φ/φ_applied between two (ny, nx, 3) states."""
    scale = np.array([1.0, 1.0, abs(phi_applied)])
    return float((np.abs(a - b).reshape(-1, 3).max(axis=0) / scale).max())


def _cost_at(errors, costs, target):
    """Cost of a run with error ``target`` from a measured (error, cost) curve, log-log; (cost, extrapolated)."""
    le, lc = np.log(np.asarray(errors)), np.log(np.asarray(costs))
    order = np.argsort(le)
    le, lc = le[order], lc[order]
    lt = np.log(target)
    if le[0] <= lt <= le[-1]:
        return float(np.exp(np.interp(lt, le, lc))), False
    i = (0, 1) if lt < le[0] else (-2, -1)
    slope = (lc[i[1]] - lc[i[0]]) / (le[i[1]] - le[i[0]])
    return float(np.exp(lc[i[0]] + slope * (lt - le[i[0]]))), True


def deposited_li(h: float, t_end: float, rtol: float) -> float:
    """Metal thickness (µm) at t_end of a flat front at -0.45 V on a 16 µm strip (table parameters, 1 rank)."""
    from mpi4py import MPI

    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    model = LiDeposition.from_physical(LiPhysical(), 2, front=4.0)
    grid = Grid(MPI.COMM_SELF, (int(round(16 / h)), 1), (h, h), 3, faces=model.faces())
    s = PhaseFieldSolver(MPI.COMM_SELF, grid, model, options={"ksp_type": "preonly", "pc_type": "lu",
                                                              "ts_rtol": str(rtol), "ts_atol": str(rtol)})
    s.set_state(model.initial_state(grid))
    s.make_consistent()
    s.advance(t_end, 1e-4, 0.01)
    value = float(s.state()[..., 0].sum()) * h
    s.destroy()
    grid.destroy()
    return value


def convergence(json_path: str) -> int:
    """Grid and time-tolerance convergence of the deposited Li (the quantity the FiPy comparison is judged on)."""
    t_end = 0.2
    hs = [1.0, 0.5, 0.25, 0.125, 0.0625]
    grid_vals = [deposited_li(h, t_end, 1e-7) for h in hs]
    tols = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]
    tol_vals = [deposited_li(0.125, t_end, tol) for tol in tols]
    d = np.abs(np.diff(grid_vals))
    orders = np.log2(d[:-1] / d[1:]).tolist()
    out = {"benchmark": "pf_li_convergence", "t_end": t_end, "h": hs, "deposit_um": grid_vals,
           "observed_grid_order": orders, "ts_rtol": tols, "deposit_um_by_rtol": tol_vals}
    print("h [µm]   deposit [µm]   order")
    for i, (h, v) in enumerate(zip(hs, grid_vals)):
        print(f"{h:7.4f} {v:13.6f}   {orders[i - 2] if i >= 2 else float('nan'):.2f}")
    print("ts_rtol  deposit [µm] (h = 0.125)")
    for tol, v in zip(tols, tol_vals):
        print(f"{tol:7.0e} {v:13.6f}")
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(out, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.loglog(hs[:-1], d, "o-", label="|deposit(h) - deposit(h/2)|")
    a.loglog(hs[:-1], d[-1] * (np.array(hs[:-1]) / hs[-2]) ** 2, "k--", label="slope 2")
    a.set_xlabel("h [µm]")
    a.set_ylabel("µm")
    a.legend(fontsize=8)
    b.semilogx(tols, tol_vals, "o-")
    b.set_xlabel("TS rtol = atol")
    b.set_ylabel(f"deposit at t = {t_end} s [µm] (h = 0.125)")
    fig.tight_layout()
    fig.savefig(Path(json_path).with_suffix(".png"), dpi=90)
    print(f"JSON: {json_path}")
    return 0


def _tolerances(rtol: float) -> dict:
    return {"ts_rtol": str(rtol), "ts_atol": str(rtol)}


def compare(model, cells, t_end, dts) -> dict:
    """Reference, bda_hpc's and FiPy's work-precision curves, the same-discretisation check and the speedup."""
    run_bda(model, (8, 4), 0.01, _tolerances(1e-3))  # warm-up: Numba caches load outside the timing
    start, ref, *_ = run_bda(model, cells, t_end, _tolerances(REFERENCE_RTOL))
    bda = []
    for rtol in BDA_RTOLS:
        _, end, wall, cpu, steps = run_bda(model, cells, t_end, _tolerances(rtol))
        bda.append({"ts_rtol": rtol, "error": field_error(end, ref, model.phi_applied), "wall_s": wall,
                    "cpu_s": cpu, "steps": steps})
        print(f"bda_hpc BDF rtol {rtol:7.0e}: error {bda[-1]['error']:.2e}  cpu {cpu:7.2f} s  steps {steps}",
              flush=True)
    # the same discretisation in both codes: backward Euler with FiPy's largest step
    _, end_be, *_ = run_bda(model, cells, t_end, {"ts_type": "beuler", "ts_adapt_type": "none"}, dts[0])
    fipy = []
    for dt in dts:
        end, wall, cpu, sweeps, worst = run_fipy(model, cells, start, t_end, dt)
        fipy.append({"dt": dt, "error": field_error(end, ref, model.phi_applied), "wall_s": wall, "cpu_s": cpu,
                     "sweeps": sweeps, "worst_last_sweep_change": worst})
        if dt == dts[0]:
            same = field_error(end, end_be, model.phi_applied)
        print(f"FiPy backward Euler dt {dt:6.4f}: error {fipy[-1]['error']:.2e}  cpu {cpu:7.2f} s  sweeps {sweeps} "
              f"(last sweep changes <= {worst:.1e})", flush=True)
    out = {"benchmark": "pf_vs_fipy", "cells": list(cells), "t_end": t_end, "switches": SWITCHES,
           "accuracy": "max over ξ, c, φ/φ_applied of |u(t_end) - u_ref(t_end)|; u_ref = bda_hpc BDF ts_rtol "
                       f"{REFERENCE_RTOL:g}",
           "max_field_diff": same, "max_field_diff_note": f"bda_hpc vs FiPy, both backward Euler dt = {dts[0]}",
           "times": "bda_s, fipy_s: CPU seconds of one process (the machine is shared); *_wall_s: wall",
           "fipy_solver_suite": _fipy_suite(), "bda_runs": bda, "fipy_runs": fipy}
    return summarise(out)


def summarise(out: dict) -> dict:
    """Speedup at each bda_hpc accuracy level from the two work-precision curves; the headline is the
    tightest level FiPy's runs bracket (interpolated, not extrapolated)."""
    bda, fipy = out["bda_runs"], out["fipy_runs"]
    fe = [f["error"] for f in fipy]
    levels = []
    for b in bda:
        cpu, extrapolated = _cost_at(fe, [f["cpu_s"] for f in fipy], b["error"])
        wall, _ = _cost_at(fe, [f["wall_s"] for f in fipy], b["error"])
        levels.append({"bda_ts_rtol": b["ts_rtol"], "error": b["error"], "bda_s": b["cpu_s"], "fipy_s": cpu,
                       "speedup": cpu / b["cpu_s"], "bda_wall_s": b["wall_s"], "fipy_wall_s": wall,
                       "speedup_wall": wall / b["wall_s"], "fipy_extrapolated": extrapolated})
    bracketed = [lv for lv in levels if not lv["fipy_extrapolated"]]
    head = bracketed[-1] if bracketed else levels[0]
    out.update({"matched_error": head["error"], "bda_ts_rtol": head["bda_ts_rtol"], "bda_s": head["bda_s"],
                "fipy_s": head["fipy_s"], "speedup": head["speedup"], "bda_wall_s": head["bda_wall_s"],
                "fipy_wall_s": head["fipy_wall_s"], "speedup_wall": head["speedup_wall"],
                "fipy_extrapolated": head["fipy_extrapolated"], "levels": levels,
                "fipy_observed_order": float(np.polyfit(np.log([f["dt"] for f in fipy]), np.log(fe), 1)[0])})
    print(f"{'bda rtol':>8s} {'error':>9s} {'bda [s]':>8s} {'FiPy [s]':>9s} {'speedup':>8s}")
    for lv in levels:
        print(f"{lv['bda_ts_rtol']:8.0e} {lv['error']:9.2e} {lv['bda_s']:8.2f} {lv['fipy_s']:9.2f} "
              f"{lv['speedup']:7.1f}x{'  (FiPy extrapolated)' if lv['fipy_extrapolated'] else ''}")
    print(f"headline: matched error {out['matched_error']:.2e} -> speedup {out['speedup']:.1f}x CPU "
          f"({out['speedup_wall']:.1f}x wall); FiPy's observed order in dt {out['fipy_observed_order']:.2f}; "
          f"same discretisation: fields differ by {out['max_field_diff']:.2e}")
    return out


def _fipy_suite() -> str:
    from fipy.solvers import solver_suite

    return solver_suite


def _plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for runs, label in ((out["bda_runs"], "bda_hpc (BDF, ts_rtol)"), (out["fipy_runs"], "FiPy (backward Euler, dt)")):
        ax.loglog([r["error"] for r in runs], [r["cpu_s"] for r in runs], "o-", label=label)
    ax.axvline(out["matched_error"], color="k", ls=":", lw=1)
    ax.set_xlabel("error at t_end (max |Δξ|, |Δc|, |Δφ|/|φ_applied|)")
    ax.set_ylabel("CPU time to t_end [s]")
    ax.set_title(f"{out['cells'][0]}×{out['cells'][1]} Li deposition: speedup {out['speedup']:.1f}x", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="40 × 24 cells to t = 0.2 s")
    ap.add_argument("--json", default="benchmarks/results/pf_vs_fipy.json")
    ap.add_argument("--convergence", action="store_true",
                    help="only the grid / time-tolerance convergence of bda_hpc's deposited Li (1D strip, ~1 min)")
    ap.add_argument("--summarise", action="store_true",
                    help="recompute the speedups from the runs stored in --json (no new runs)")
    args = ap.parse_args()
    import petsc4py

    petsc4py.init(sys.argv[:1])
    if args.convergence:
        return convergence(args.json)
    if args.summarise:
        out = summarise(json.loads(Path(args.json).read_text()))
    else:
        model, cells, t_end, dts = problem(args.quick)
        out = compare(model, cells, t_end, dts)
        out.update({"quick": args.quick, "machine": os.uname().nodename, "load_avg_1min": os.getloadavg()[0]})
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    _plot(out, Path(args.json).with_suffix(".png"))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
