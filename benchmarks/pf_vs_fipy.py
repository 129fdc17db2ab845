"""The same 2D Li electrodeposition problem in FiPy and in bda_hpc, same grid, same time steps, same run.

    python benchmarks/pf_vs_fipy.py [--quick] [--json PATH]
    python benchmarks/pf_vs_fipy.py --convergence --json benchmarks/results/pf_li_convergence.json

Both codes discretise the REFERENCES §1 model (isotropic here: FiPy has no
built-in anisotropic gradient term) with cell-centred finite volumes,
face-value Dirichlet conditions, the exponential (Scharfetter–Gummel) scheme
for ion migration and backward Euler with the same fixed dt. FiPy solves the
three equations coupled and sweeps (Newton-linearised sources) until the
residual falls 1e-6 below its start; bda_hpc runs Newton–Krylov on PETSc.
Both start from bda_hpc's consistent initial state. Reported: wall times to
t_end (``bda_s``, ``fipy_s``), ``speedup`` = fipy_s / bda_s, and the largest
difference of ξ, c and φ/φ_applied at t_end (``max_field_diff``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def problem(quick: bool):
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical

    nx, ny, t_end, dt = (40, 24, 0.2, 0.01) if quick else (100, 60, 1.0, 0.01)
    # ion limit off: FiPy gets Chen et al.'s equations as written (the limit would be one more source term)
    model = LiDeposition.from_physical(LiPhysical(anisotropy=0.0, ion_limit_concentration=0.0), 2, front=8.0,
                                       nuclei=[(ny / 2, 3.0)])
    return model, (nx, ny), t_end, dt


def run_bda(model, cells, t_end, dt):
    from mpi4py import MPI

    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    comm = MPI.COMM_SELF
    grid = Grid(comm, cells, (1.0, 1.0), 3, faces=model.faces(), field_names=model.fields)
    s = PhaseFieldSolver(comm, grid, model, options={"ts_type": "beuler", "ts_adapt_type": "none",
                                                     "snes_rtol": "1e-8", "snes_atol": "1e-9", "ksp_type": "preonly",
                                                     "pc_type": "lu"}, progress_every=1e9)
    s.set_state(model.initial_state(grid))
    s.make_consistent()
    start = s.state()[0]
    t0 = time.perf_counter()
    s.advance(t_end, dt, dt)
    wall = time.perf_counter() - t0
    end = s.state()[0]
    steps = s.step
    s.destroy()
    grid.destroy()
    return start, end, wall, steps


def run_fipy(model, cells, start, t_end, dt):
    import fipy as fp

    from bda_hpc.phasefield import li_deposition as L

    p = model.prm
    nx, ny = cells
    mesh = fp.Grid2D(nx=nx, ny=ny, dx=1.0, dy=1.0)
    xi = fp.CellVariable(mesh=mesh, value=start[..., 0].ravel(), hasOld=True)
    c = fp.CellVariable(mesh=mesh, value=start[..., 1].ravel(), hasOld=True)
    phi = fp.CellVariable(mesh=mesh, value=start[..., 2].ravel(), hasOld=True)
    xi.constrain(1.0, mesh.facesLeft)
    xi.constrain(0.0, mesh.facesRight)
    c.constrain(1.0, mesh.facesRight)
    phi.constrain(model.phi_applied, mesh.facesLeft)
    phi.constrain(0.0, mesh.facesRight)

    h = xi ** 3 * (6 * xi ** 2 - 15 * xi + 10)
    dh = 30 * xi ** 2 * (1 - xi) ** 2
    d2h = 60 * xi * (1 - xi) * (1 - 2 * xi)
    bv = fp.numerix.exp((1 - p[L.ALPHA]) * phi) - c * fp.numerix.exp(-p[L.ALPHA] * phi)
    source = -p[L.L_SIGMA] * 2 * p[L.W_BARRIER] * xi * (1 - xi) * (1 - 2 * xi) - p[L.L_ETA] * dh * bv
    dsource = -p[L.L_SIGMA] * 2 * p[L.W_BARRIER] * (1 - 6 * xi + 6 * xi ** 2) - p[L.L_ETA] * d2h * bv
    diff = (p[L.D_S] * h + p[L.D_L] * (1 - h)).faceValue
    sigma = (p[L.SIG_S] * h + p[L.SIG_L] * (1 - h)).faceValue
    eq_xi = (fp.TransientTerm(var=xi) == fp.DiffusionTerm(coeff=p[L.L_SIGMA] * p[L.KAPPA], var=xi)
             + fp.ImplicitSourceTerm(coeff=dsource, var=xi) + source - dsource * xi)
    eq_c = (fp.TransientTerm(var=c) + fp.ExponentialConvectionTerm(coeff=-diff * phi.faceGrad, var=c)
            == fp.DiffusionTerm(coeff=diff, var=c) - fp.ImplicitSourceTerm(coeff=p[L.RATIO_CS] / dt, var=xi)
            + p[L.RATIO_CS] * xi.old / dt)
    eq_phi = (fp.DiffusionTerm(coeff=sigma, var=phi)
              == fp.ImplicitSourceTerm(coeff=p[L.POISSON] / dt, var=xi) - p[L.POISSON] * xi.old / dt)
    eq = eq_xi & eq_c & eq_phi
    t, sweeps = 0.0, 0
    t0 = time.perf_counter()
    while t < t_end - 1e-12:
        for var in (xi, c, phi):
            var.updateOld()
        res0 = None
        for _ in range(50):
            res = eq.sweep(dt=dt)
            sweeps += 1
            res0 = res0 or res
            if res < 1e-6 * res0:
                break
        t += dt
    wall = time.perf_counter() - t0
    end = np.stack([np.asarray(v.value).reshape(ny, nx) for v in (xi, c, phi)], axis=-1)
    return end, wall, sweeps


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="40 × 24 cells to t = 0.2 s")
    ap.add_argument("--json", default="benchmarks/results/pf_vs_fipy.json")
    ap.add_argument("--convergence", action="store_true",
                    help="only the grid / time-tolerance convergence of bda_hpc's deposited Li (1D strip, ~1 min)")
    args = ap.parse_args()
    import petsc4py

    petsc4py.init(sys.argv[:1])
    if args.convergence:
        return convergence(args.json)
    model, cells, t_end, dt = problem(args.quick)
    run_bda(model, (8, 4), dt, dt)  # warm-up: Numba caches load outside the timing
    start, end_bda, bda_s, steps = run_bda(model, cells, t_end, dt)
    end_fipy, fipy_s, sweeps = run_fipy(model, cells, start, t_end, dt)
    scale = np.array([1.0, 1.0, abs(model.phi_applied)])
    diffs = np.abs(end_bda - end_fipy).reshape(-1, 3).max(axis=0) / scale
    out = {"benchmark": "pf_vs_fipy", "quick": args.quick, "machine": os.uname().nodename, "cells": list(cells),
           "t_end": t_end, "dt": dt, "steps": steps, "fipy_sweeps": sweeps, "bda_s": bda_s, "fipy_s": fipy_s,
           "speedup": fipy_s / bda_s, "max_field_diff": float(diffs.max()),
           "max_diff_by_field": {"xi": float(diffs[0]), "c": float(diffs[1]), "phi_over_phi_applied": float(diffs[2])}}
    print(f"{'code':8s} {'wall [s]':>10s}\nbda_hpc  {bda_s:10.2f}\nFiPy     {fipy_s:10.2f}\n"
          f"speedup {out['speedup']:.1f}x; max field difference {out['max_field_diff']:.2e} "
          f"(xi {diffs[0]:.1e}, c {diffs[1]:.1e}, phi {diffs[2]:.1e})")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
