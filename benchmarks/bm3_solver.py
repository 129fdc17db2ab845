"""PFHub BM3 (Karma–Rappel) solver settings compared on one grid and time span, JSON out.

Runs the same dendrite from the same start with each option set in turn, in one
process: the former settings (GMRES + block-Jacobi/ILU on the whole system,
Newton to 1e-10) and the current ``solver_options("karma_rappel")`` (φ | U
multiplicative field split, BoomerAMG on U, Newton to 1e-6). Reports wall and
CPU seconds, time steps, Newton and GMRES iterations per 25-time-unit segment,
and how far the end states differ (they must agree to the solver tolerances).

    python benchmarks/bm3_solver.py [--quick] [--n 240] [--dx 0.4] [--t-end 100] [--json PATH]
    mpiexec -n 2 python benchmarks/bm3_solver.py ...
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FORMER = {"ksp_type": "gmres", "pc_type": "bjacobi", "sub_pc_type": "ilu"}  # to session 7


def _run(comm, options: dict, n: int, dx: float, t_end: float) -> tuple[dict, np.ndarray]:
    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.karma_rappel import KarmaRappel
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    model = KarmaRappel()
    grid = Grid(comm, (n, n), (dx, dx), model.dof, periodic=model.periodic, faces=model.faces(),
                field_names=model.fields)
    s = PhaseFieldSolver(comm, grid, model, options={**options, "ts_rtol": "1e-3", "ts_atol": "1e-3"},
                         progress_every=60.0)
    s.set_state(model.initial_state(grid))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    s.begin_run(t_end)
    segments = []
    for target in np.arange(25.0, t_end + 1e-9, 25.0):
        w, c = time.perf_counter(), time.process_time()
        steps, newton, gmres = s.step, s.ts.getSNESIterations(), s.ts.getKSPIterations()
        s.advance(float(target), 1e-2, 5.0)  # as benchmarks/pfhub.py runs BM3
        segments.append({"t": float(target), "wall_s": time.perf_counter() - w,
                         "cpu_s": comm.allreduce(time.process_time() - c), "steps": s.step - steps,
                         "newton": s.ts.getSNESIterations() - newton, "gmres": s.ts.getKSPIterations() - gmres})
    result = {"wall_s": time.perf_counter() - wall0, "cpu_s": comm.allreduce(time.process_time() - cpu0),
              "steps": s.step, "newton": s.ts.getSNESIterations(), "gmres": s.ts.getKSPIterations(),
              "segments": segments}
    result["gmres_per_newton"] = result["gmres"] / max(result["newton"], 1)
    state = s.state()
    s.destroy()
    grid.destroy()
    return result, state


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=240, help="cells per side (default 240: the 96 quadrant at Δx 0.4)")
    p.add_argument("--dx", type=float, default=0.4)
    p.add_argument("--t-end", type=float, default=100.0)
    p.add_argument("--quick", action="store_true", help="120 cells to t = 50 (under a minute)")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "bm3_solver.json")
    args = p.parse_args()
    if args.quick:
        args.n, args.t_end = 120, 50.0

    import petsc4py

    petsc4py.init(sys.argv[:1])
    from mpi4py import MPI

    from bda_hpc.phasefield.stage import solver_options

    comm = MPI.COMM_WORLD
    results, states = {}, {}
    current = solver_options("karma_rappel")
    # the same step control in both: only the solver differs
    former = {**FORMER, "ts_adapt_wnormtype": current["ts_adapt_wnormtype"]}
    for name, options in (("former_ilu", former), ("current", current)):
        results[name], states[name] = _run(comm, options, args.n, args.dx, args.t_end)
        if comm.rank == 0:
            r = results[name]
            print(f"{name:11s} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  steps {r['steps']}  "
                  f"Newton {r['newton']}  GMRES/Newton {r['gmres_per_newton']:.1f}", flush=True)
    diff = comm.allreduce(float(np.abs(states["current"] - states["former_ilu"]).max()), op=MPI.MAX)
    out = {"grid": [args.n, args.n], "dx": args.dx, "t_end": args.t_end, "ranks": comm.size, **results,
           "max_state_diff": diff,
           "speedup_wall": results["former_ilu"]["wall_s"] / results["current"]["wall_s"],
           "speedup_cpu": results["former_ilu"]["cpu_s"] / results["current"]["cpu_s"],
           "machine": os.uname().nodename, "load_avg": os.getloadavg()[0],
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if comm.rank == 0:
        print(f"speed-up: wall {out['speedup_wall']:.2f}x, CPU {out['speedup_cpu']:.2f}x; "
              f"max |state difference| {diff:.2e}")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
        print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
