#!/usr/bin/env python
"""DFN (Chen2020) against PyBaMM's DFN + IDAKLU: accuracy and wall time at matched settings.

Both codes use the same finite-volume mesh (20 cells per region in x, 20 per particle in r unless
--mesh says otherwise), rtol = atol = 1e-6, isothermal 298.15 K (plus a lumped-thermal run at 1C),
a constant-current discharge from the set's initial state to 2.5 V, and outputs every 10 s.
Times: set-up (parameters + mesh + discretisation / Jacobian pattern), first solve, and the best
of --repeats further solves of the already set-up model.

Usage: benchmarks/dfn_vs_pybamm.py [--quick] [--sweep N] [--np N] --json PATH
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

HERE = Path(__file__).resolve().parent


def ours(c_rate, thermal, mesh, repeats, clock, output_dt=10.0):
    from bda_hpc.cell.params import load_parameter_set
    from bda_hpc.cell.simulate import CellSimulation

    experiment = [{"mode": "current", "c_rate": c_rate}]
    t0 = clock()
    sim = CellSimulation(load_parameter_set("Chen2020"), mesh, thermal=thermal)
    t1 = clock()
    res = sim.run(experiment, output_dt=output_dt)
    t2 = clock()
    best = np.inf
    for _ in range(repeats):
        ta = clock()
        sim.run(experiment, output_dt=output_dt)
        best = min(best, clock() - ta)
    sim.destroy()
    return res, t1 - t0, t2 - t1, best


def single_cell_rows(c_rates, mesh, repeats, clock):
    from bda_hpc.cell.pybamm_peer import compare, run_pybamm

    rows = []
    for c_rate, thermal in [(c, False) for c in c_rates] + [(1.0, True)]:
        res, setup, solve, resolve = ours(c_rate, thermal, mesh, repeats, clock)
        peer = run_pybamm(c_rate, thermal=thermal, mesh=mesh, repeats=repeats, clock=clock)
        cmp = compare(res["time"], res["voltage"], res["discharge_capacity"], peer,
                      res["temperature"] if thermal else None)
        rows.append({"c_rate": c_rate, "thermal": thermal, "bda_setup_s": setup, "bda_solve_s": solve,
                     "bda_resolve_s": resolve, "pybamm_setup_s": peer.setup_s, "pybamm_solve_s": peer.solve_s,
                     "pybamm_resolve_s": peer.resolve_s, **cmp})
    return rows


def print_rows(rows):
    head = (f"{'C':>4} {'thermal':>7} {'rms mV':>7} {'max mV':>7} {'dQ rel':>8} {'dT K':>6} | "
            f"{'bda set':>7} {'solve':>6} {'resolve':>7} | {'pyb set':>7} {'solve':>6} {'resolve':>7} | "
            f"{'total ratio':>11} {'resolve ratio':>13}")
    print(head)
    print("-" * len(head))
    for r in rows:
        total = (r["pybamm_setup_s"] + r["pybamm_solve_s"]) / (r["bda_setup_s"] + r["bda_solve_s"])
        print(f"{r['c_rate']:>4g} {str(r['thermal']):>7} {r['rms_mv']:7.3f} {r['max_mv']:7.3f} "
              f"{r['capacity_rel_diff']:8.1e} {r.get('temperature_diff_K', float('nan')):6.3f} | "
              f"{r['bda_setup_s']:7.3f} {r['bda_solve_s']:6.3f} {r['bda_resolve_s']:7.3f} | "
              f"{r['pybamm_setup_s']:7.3f} {r['pybamm_solve_s']:6.3f} {r['pybamm_resolve_s']:7.3f} | "
              f"{total:10.2f}x {r['pybamm_resolve_s'] / r['bda_resolve_s']:12.2f}x")
    print("ratios > 1: bda_hpc faster (total = set-up + first solve; resolve = repeated solve)")


def sweep_rows(n_cells, nprocs, out_dir):
    """n_cells random designs (both porosities and the C-rate) with our MPI sweep (wall time of the
    mpiexec run, start-up included) and with PyBaMM solving the list of inputs on nprocs threads."""
    from bda_hpc.launch import mpiexec_command

    out = Path(out_dir) / "dfn_sweep_bench.h5"
    t0 = time.perf_counter()
    cmd = mpiexec_command(nprocs) + [sys.executable, "-m", "bda_hpc.cell.sweep", "--n-cells", str(n_cells),
                                     "--out", str(out)]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    ours_s = time.perf_counter() - t0
    from bda_hpc.cell.sweep import pybamm_sweep
    from bda_hpc.io.params import read_results

    peer_s, peer_caps = pybamm_sweep(n_cells, nprocs)
    caps = read_results(out, "table/discharge_capacity")
    return {"n_cells": n_cells, "nprocs": nprocs, "bda_sweep_s": ours_s, "pybamm_sweep_s": peer_s,
            "capacity_max_rel_diff": float(np.nanmax(np.abs(caps - peer_caps) / peer_caps)),
            "n_failed": int(np.sum(~np.isfinite(caps))),
            "bda_cells_per_s_per_core": n_cells / ours_s / nprocs,
            "pybamm_cells_per_s_per_core": n_cells / peer_s / nprocs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1C only (plus thermal), 1 repeat, 20-cell sweep")
    ap.add_argument("--np", type=int, default=2, help="MPI ranks / processes for the sweep (default 2)")
    ap.add_argument("--sweep", type=int, default=None, help="cells in the sweep (default 1000, quick 20; 0 skips)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="process CPU time (default: robust on a shared machine) or wall time")
    ap.add_argument("--json", required=True, metavar="PATH")
    args = ap.parse_args(argv)
    import petsc4py

    petsc4py.init([])
    from bda_hpc.cell.grid import MeshSizes

    c_rates = [1.0] if args.quick else [0.5, 1.0, 2.0]
    repeats = 1 if args.quick else args.repeats
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rows = single_cell_rows(c_rates, MeshSizes(), repeats, clock)
    print(f"times: {args.clock} seconds")
    print_rows(rows)
    result = {"machine": os.uname().nodename, "mesh": "20/20/20 x, 20 r (PyBaMM default)", "rtol": 1e-6,
              "atol": 1e-6, "clock": args.clock,
              "note": "single process, one thread; shared 2-core machine, other jobs running",
              "runs": rows, "rms_mv": {f"{r['c_rate']:g}C{'_thermal' if r['thermal'] else ''}": r["rms_mv"]
                                       for r in rows}}
    n_sweep = args.sweep if args.sweep is not None else (20 if args.quick else 1000)
    if n_sweep:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="dfn_sweep_") as scratch:
            sw = sweep_rows(n_sweep, args.np, scratch)
        print(f"sweep of {sw['n_cells']} cells on {sw['nprocs']} processes: bda_hpc {sw['bda_sweep_s']:.1f} s, "
              f"PyBaMM {sw['pybamm_sweep_s']:.1f} s (ratio {sw['pybamm_sweep_s'] / sw['bda_sweep_s']:.2f}x)")
        result["sweep"] = sw
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
