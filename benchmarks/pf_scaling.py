"""Strong and weak scaling of the Li electrodeposition solver (2D and 3D), per-core throughput.

Each case runs a fixed number of backward-Euler steps of fixed dt (so every
rank count does the same time integration) under ``mpiexec -n N`` and reports
wall time of the stepping only, unknowns, Newton and GMRES iterations,
unknowns·steps/s and unknowns·(linear iterations)/s per core. Strong scaling is
thus measured per time step, not to a t_end: the work per step is what changes
with the rank count, and a handful of steps of a 1024² or 128³ problem fits in
minutes where a whole run would take hours. dt = 1 ms: from the initial state
the ions at the front are used up within milliseconds, and with the ion limit
of the model a 10 ms first step needs many Newton iterations and step cuts.

    python benchmarks/pf_scaling.py [--quick] [--np 1,2] [--json PATH] [--sbatch-np 1,2,4,...,256]

``--sbatch-np`` also writes jobscripts/pf_scaling.sbatch for a cluster sweep.
Full size: 2D 1024², 3D 128³, 5 steps, Schur field split with hypre on φ (see
bda_hpc/phasefield/stage.py for the preconditioner study):

    python benchmarks/pf_scaling.py --np 1,2 --steps 2 --json benchmarks/results/pf_scaling_full.json

Measured pieces (1 rank, shared machine at load ~7, wall per step): 2D 256²
13.8 s, 3D 32³ 10.9 s (3 Newton steps, 4 GMRES iterations each). Linear
extrapolation: 1024² ~220 s and 128³ ~700 s per step at that load; each case
runs 1 + --steps steps, plus the weak-scaling 2D cases. Expect roughly 30 min on
a quiet 2-core machine with --steps 2 (an estimate, not a measurement).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bda_hpc.phasefield.preconditioners import LI_PRECONDITIONERS  # noqa: E402  (light: no PETSc import)


def worker(dim: int, n: int, steps: int, dt: float, pc: str = "asm_lu") -> None:
    import petsc4py

    petsc4py.init(sys.argv[:1])
    from mpi4py import MPI

    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical
    from bda_hpc.phasefield.preconditioners import li_solver_options
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    comm = MPI.COMM_WORLD
    cells = (n, n) if dim == 2 else (n, n, n)
    nuclei = [(n / 2, 4.0)] if dim == 2 else [(n / 2, n / 2, 4.0)]
    model = LiDeposition.from_physical(LiPhysical(), dim, front=n / 8, nuclei=nuclei)
    grid = Grid(comm, cells, (1.0,) * dim, 3, faces=model.faces(), field_names=model.fields)
    options = {"ts_type": "beuler", "ts_adapt_type": "none", "ksp_rtol": "1e-8", "snes_rtol": "1e-8",
               "snes_atol": "1e-9", "ksp_max_it": "2000", **li_solver_options(pc)}
    s = PhaseFieldSolver(comm, grid, model, options=options, progress_every=1e9)
    s.set_state(model.initial_state(grid))
    s.make_consistent()
    s.advance(dt, dt, dt)  # warm-up step: Numba loads, PETSc sets up
    snes0, ksp0 = s.ts.getSNESIterations(), s.ts.getKSPIterations()
    comm.Barrier()
    t0, cpu0 = time.perf_counter(), time.process_time()
    s.advance(dt * (steps + 1), dt, dt)
    cpu = comm.allreduce(time.process_time() - cpu0, op=MPI.MAX)
    comm.Barrier()
    wall = time.perf_counter() - t0
    result = {"pc": pc, "ranks": comm.size, "dim": dim, "cells": list(cells), "unknowns": 3 * n ** dim, "steps": steps,
              "wall_s": wall, "cpu_s": cpu, "newton_its": s.ts.getSNESIterations() - snes0,
              "linear_its": s.ts.getKSPIterations() - ksp0}
    s.destroy()
    grid.destroy()
    if comm.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def run_case(np_: int, dim: int, n: int, steps: int, dt: float, pc: str = "asm_lu") -> dict:
    from bda_hpc.launch import mpiexec_command

    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    cmd = mpiexec_command(np_) + [sys.executable, __file__, "--worker", str(dim), str(n), str(steps), str(dt), pc]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not line:
        raise SystemExit(f"case np={np_} dim={dim} n={n} failed:\n{r.stderr[-3000:]}")
    res = json.loads(line[0][7:])
    res["throughput_per_core"] = res["unknowns"] * res["steps"] / res["wall_s"] / np_
    res["unknowns_linear_its_per_s_per_core"] = res["unknowns"] * res["linear_its"] / res["wall_s"] / np_
    return res


def pc_study(ranks: list[int], grids: list[int], pcs: list[str], json_path: str) -> int:
    """Iterations, wall and CPU time per step of each preconditioner vs grid size (1 rank) and ranks.

    Every grid runs on 1 rank; the rank counts run on the middle grid. asm_lu (a per-rank direct
    factorisation) only up to 256². The JSON is rewritten after every case, so a stopped study keeps
    what it measured.
    """
    rows = []
    plan = [(pc, 1, n) for pc in pcs for n in grids] + [(pc, np_, grids[len(grids) // 2]) for pc in pcs
                                                         for np_ in ranks if np_ != 1]
    for pc, np_, n in plan:
        if pc == "asm_lu" and n > 256:
            continue
        try:
            res = run_case(np_, 2, n, 2, 0.001, pc)
        except SystemExit as exc:
            res = {"pc": pc, "ranks": np_, "cells": [n, n], "failed": str(exc)[-300:]}
        rows.append(res)
        if "failed" in res:
            print(f"{pc:22s} n={n:5d} ranks={np_} FAILED", flush=True)
        else:
            per_newton = res["linear_its"] / max(res["newton_its"], 1)
            print(f"{pc:22s} n={n:5d} ranks={np_} wall/step={res['wall_s'] / res['steps']:7.2f}s "
                  f"cpu/step={res['cpu_s'] / res['steps']:7.2f}s newton={res['newton_its']:3d} "
                  f"gmres/newton={per_newton:5.1f} cpu_us/unknown/step="
                  f"{1e6 * res['cpu_s'] / res['steps'] / res['unknowns']:6.2f}", flush=True)
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps({"benchmark": "pf_pc_study", "load_avg": os.getloadavg(),
                                               "cases": rows}, indent=1))
    return 0


def write_sbatch(ranks: list[int], path: Path) -> None:
    lines = ["#!/bin/bash", "#SBATCH --job-name=pf_scaling", f"#SBATCH --ntasks={max(ranks)}",
             "#SBATCH --time=02:00:00", "#SBATCH --output=pf_scaling_%j.out", "",
             "# strong-scaling sweep of the phase-field solver; edit modules/partition for your cluster",
             "export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1", "cd \"$SLURM_SUBMIT_DIR\"",
             f"python benchmarks/pf_scaling.py --np {','.join(map(str, ranks))} "
             "--json benchmarks/results/pf_scaling_cluster.json"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), *sys.argv[6:7])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2D 128², 3D 20³, 2 steps (minutes on an idle 2-core machine)")
    ap.add_argument("--np", default="1,2", help="comma-separated rank counts (default 1,2)")
    ap.add_argument("--json", default="benchmarks/results/pf_scaling.json")
    ap.add_argument("--pc-study", action="store_true",
                    help="only compare preconditioners (--pcs) on 2D grids (--study-grids) at 1 rank, and over --np "
                         "on the middle grid")
    ap.add_argument("--study-grids", default="128,256,512", help="cells per side for --pc-study")
    ap.add_argument("--pcs", default=",".join(LI_PRECONDITIONERS), help="preconditioners for --pc-study")
    ap.add_argument("--sbatch-np", default="", help="also write jobscripts/pf_scaling.sbatch for these ranks")
    ap.add_argument("--n2", type=int, default=None, help="2D cells per side (default 1024; quick 128)")
    ap.add_argument("--n3", type=int, default=None, help="3D cells per side (default 128; quick 20)")
    ap.add_argument("--steps", type=int, default=None, help="timed backward-Euler steps (default 5; quick 2)")
    ap.add_argument("--pc", choices=sorted(LI_PRECONDITIONERS), default=None,
                    help="preconditioner (see --pc-study); default asm_lu with --quick, schur_a11_hypre at full size "
                         "(a per-rank LU of 128³ x 3 unknowns does not fit in memory)")
    args = ap.parse_args()
    ranks = [int(x) for x in args.np.split(",")]
    if args.pc_study:
        return pc_study(ranks, [int(x) for x in args.study_grids.split(",")], args.pcs.split(","), args.json)
    n2, n3, steps, dt = (128, 20, 2, 0.001) if args.quick else (1024, 128, 5, 0.001)
    n2, n3, steps = args.n2 or n2, args.n3 or n3, args.steps or steps
    args.pc = args.pc or ("asm_lu" if args.quick else "schur_a11_hypre")
    cases = []
    for dim, n in ((2, n2), (3, n3)):
        for np_ in ranks:
            res = run_case(np_, dim, n, steps, dt, args.pc)
            res["kind"] = "strong"
            cases.append(res)
            print(f"strong {dim}D n={n:5d} ranks={np_:3d} wall={res['wall_s']:8.2f}s newton={res['newton_its']:3d} "
                  f"gmres={res['linear_its']:4d} unknowns*steps/s/core={res['throughput_per_core']:.3g}",
                  flush=True)
    # weak scaling in 2D: about the same cells per rank (n² ∝ ranks)
    for np_ in ranks:
        res = run_case(np_, 2, int(round(n2 * np_ ** 0.5)), steps, dt, args.pc)
        res["kind"] = "weak"
        cases.append(res)
        print(f"weak   2D n={res['cells'][0]:5d} ranks={np_:3d} wall={res['wall_s']:8.2f}s "
              f"unknowns*steps/s/core={res['throughput_per_core']:.3g}", flush=True)
    eff = {}
    for dim in (2, 3):
        strong = {c["ranks"]: c for c in cases if c["kind"] == "strong" and c["dim"] == dim}
        if 1 in strong and 2 in strong:
            eff[dim] = strong[1]["wall_s"] / (2 * strong[2]["wall_s"])
    out = {"benchmark": "pf_scaling", "quick": args.quick, "pc": args.pc, "steps": steps,
           "machine": os.uname().nodename,
           "cores": os.cpu_count(), "strong_scaling_efficiency_2": min(eff.values()) if eff else None,
           "strong_efficiency_by_dim": {f"{d}D": e for d, e in eff.items()}, "cases": cases}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"strong scaling efficiency 1->2 ranks: {eff}; JSON: {args.json}")
    if args.sbatch_np:
        write_sbatch([int(x) for x in args.sbatch_np.split(",")], REPO / "jobscripts" / "pf_scaling.sbatch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
