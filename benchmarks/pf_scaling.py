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

``--sbatch-np`` instead writes jobscripts/pf_scaling.sbatch for a cluster sweep (with ``--quick``,
jobscripts/pf_scaling_quick.sbatch: the same sweep at quick sizes, to try the job before the real one).
Full size: 2D 1024², 3D 128³, one consistent start, one warm-up step and 2
timed steps per case, Schur field split on the unscaled rows (ξ,c | φ) with
ASM(1)/ILU | one BoomerAMG V-cycle on φ (``unscaled_schur_a11_hypre_asm``; the
study and the why are in bda_hpc/phasefield/preconditioners.py,
``--pc-study``), weak scaling at 512² per rank (512² on 1 rank, 724² on 2).
Each rank-0 worker prints one progress line per step. The JSON records per
case wall and CPU time, Newton and GMRES counts, the consistent start and
warm-up times, unknowns·steps/s and unknowns·(linear iterations)/s per core;
``strong_scaling_efficiency_2`` is the smaller of the 2D and 3D cases
(``strong_scaling_efficiency_2_from`` names it), ``full_size_estimates`` the
1-rank step time at 1024² / 128³ scaled from smaller cases (an estimate).

Measured (session 7, quiet 2-core VM, default PC, COO Jacobian assembly; figures and history in
benchmarks/README.md): 1024² 2 timed steps 33-42 s on 1 rank, 20.5-24 s on 2 (four interleaved pairs,
efficiency 0.79 from the medians, 0.72-0.96 per pair); 128³ (6.3 M unknowns, 20 GB on 1 rank) 155 s on
1 rank, 87 s on 2 (0.90); weak 512² per rank 0.99 (session 5). The two cores share one memory bus
(benchmarks/membw.py: at most 1.6x the bandwidth of one), which caps the sparse linear algebra and with it
the 2D case. The runs (~25 min on 2 idle cores):

    python benchmarks/pf_scaling.py --np 1,2 --dims 2 --no-weak --repeat 4 \\
        --json benchmarks/results/pf_scaling_quiet_s7_2d_repeat4.json
    python benchmarks/pf_scaling.py --np 1,2 --dims 3 --no-weak --json benchmarks/results/pf_scaling_quiet_s7_3d.json
    python benchmarks/pf_scaling.py --np 1,2 --no-strong --json benchmarks/results/pf_scaling_quiet_s5_weak.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# light, no PETSc import. The default is the stage's: the Schur split on the unscaled rows, ASM(1)/ILU on (ξ,c), one
# BoomerAMG V-cycle on φ, iterations flat in the grid and in the rank count (preconditioners.py); per-rank LU
# (asm_lu) would make 1 vs 2 ranks compare different solvers
from bda_hpc.info import cpu_model  # noqa: E402
from bda_hpc.phasefield.preconditioners import DEFAULT_LI_PRECONDITIONER, LI_PRECONDITIONERS  # noqa: E402


def worker(dim: int, n: int, steps: int, dt: float, pc: str = DEFAULT_LI_PRECONDITIONER) -> None:
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
    comm.Barrier()
    t0, cpu0 = time.perf_counter(), time.process_time()
    s.make_consistent()
    init = {"init_wall_s": time.perf_counter() - t0,
            "init_cpu_s": comm.allreduce(time.process_time() - cpu0, op=MPI.MAX),
            **{"init_" + k: v for k, v in s.consistent_start_iterations.items()}}
    clock = time.perf_counter()

    def progress(solver, step, t, x):  # one line per step on rank 0: full-size steps take minutes
        if comm.rank == 0:
            print(f"  [{dim}D {n}^{dim} x{comm.size}] step {step}/{steps + 1} t={t:.4g}s "
                  f"newton={solver.ts.getSNESIterations()} gmres={solver.ts.getKSPIterations()} "
                  f"wall={time.perf_counter() - clock:.1f}s", file=sys.stderr, flush=True)

    s.step_callbacks.append(progress)
    s.advance(dt, dt, dt)  # warm-up step: Numba loads, PETSc sets up
    init["warmup_wall_s"] = time.perf_counter() - clock
    snes0, ksp0 = s.ts.getSNESIterations(), s.ts.getKSPIterations()
    comm.Barrier()
    t0, cpu0 = time.perf_counter(), time.process_time()
    s.advance(dt * (steps + 1), dt, dt)
    cpu = comm.allreduce(time.process_time() - cpu0, op=MPI.MAX)
    comm.Barrier()
    wall = time.perf_counter() - t0
    result = {"pc": pc, "ranks": comm.size, "dim": dim, "cells": list(cells), "unknowns": 3 * n ** dim, "steps": steps,
              "wall_s": wall, "cpu_s": cpu, "newton_its": s.ts.getSNESIterations() - snes0,
              "linear_its": s.ts.getKSPIterations() - ksp0, **init}
    s.destroy()
    grid.destroy()
    if comm.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def run_case(np_: int, dim: int, n: int, steps: int, dt: float, pc: str = DEFAULT_LI_PRECONDITIONER) -> dict:
    from bda_hpc.launch import mpiexec_command

    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    cmd = mpiexec_command(np_) + [sys.executable, __file__, "--worker", str(dim), str(n), str(steps), str(dt), pc]
    steal0 = _steal_seconds()
    # stderr (the per-step progress lines, PETSc errors) goes straight to the terminal
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    steal1 = _steal_seconds()
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not line:
        raise SystemExit(f"case np={np_} dim={dim} n={n} pc={pc} failed (exit {r.returncode}; its messages are "
                         f"above):\n{r.stdout[-2000:]}")
    res = json.loads(line[0][7:])
    res["throughput_per_core"] = res["unknowns"] * res["steps"] / res["wall_s"] / np_
    res["unknowns_linear_its_per_s_per_core"] = res["unknowns"] * res["linear_its"] / res["wall_s"] / np_
    res["linear_its_per_newton"] = res["linear_its"] / max(res["newton_its"], 1)
    res["cpu_us_per_unknown_step"] = 1e6 * res["cpu_s"] * np_ / (res["unknowns"] * res["steps"])
    res["steal_s_all_cpus"] = None if steal0 is None else round(steal1 - steal0, 2)
    return res


def _steal_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests, summed over this VM's CPUs (Linux /proc/stat; None
    elsewhere): over a whole case (start-up included), it tells a slow run on a busy host from a slow solver."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" and len(fields) > 8 else None


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
            print(f"{pc:22s} n={n:5d} ranks={np_} wall/step={res['wall_s'] / res['steps']:7.2f}s "
                  f"cpu/step={res['cpu_s'] / res['steps']:7.2f}s newton={res['newton_its']:3d} "
                  f"gmres/newton={res['linear_its_per_newton']:5.1f} "
                  f"cpu_us/unknown/step (all ranks)={res['cpu_us_per_unknown_step']:6.2f}", flush=True)
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps({"benchmark": "pf_pc_study", "load_avg": os.getloadavg(),
                                               "cases": rows}, indent=1))
    return 0


def write_sbatch(ranks: list[int], path: Path, quick: bool = False) -> None:
    """The sweep as one SLURM job of max(ranks) tasks; ``quick`` sizes for a smoke test before the real one."""
    lines = ["#!/bin/bash", "#SBATCH --job-name=pf_scaling", f"#SBATCH --ntasks={max(ranks)}",
             f"#SBATCH --time={'00:30:00' if quick else '02:00:00'}", "#SBATCH --output=pf_scaling_%j.out", "",
             "# strong-scaling sweep of the phase-field solver; edit modules/partition for your cluster",
             "export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1", "cd \"$SLURM_SUBMIT_DIR\"",
             f"python benchmarks/pf_scaling.py --np {','.join(map(str, ranks))}{' --quick' if quick else ''} "
             f"--json benchmarks/results/pf_scaling_cluster{'_quick' if quick else ''}.json"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _walls(cases: list[dict], kind: str, dim: int, ranks: int) -> list[float]:
    return [c["wall_s"] for c in cases if c["kind"] == kind and c["dim"] == dim and c["ranks"] == ranks]


def _efficiency_1_to_2(t1: float, t2: float, kind: str) -> float:
    """Strong: T1 / (2 T2); weak: T1 / T2 (same work per rank)."""
    return t1 / t2 / (2 if kind == "strong" else 1)


def _efficiency(cases: list[dict], kind: str, dim: int) -> float | None:
    """The efficiency of the median 1- and 2-rank walls over the --repeat runs."""
    t1, t2 = _walls(cases, kind, dim, 1), _walls(cases, kind, dim, 2)
    if not t1 or not t2:
        return None
    return _efficiency_1_to_2(statistics.median(t1), statistics.median(t2), kind)


def _pair_efficiencies(cases: list[dict], kind: str, dim: int) -> list[float]:
    """The efficiency of each repeat's own 1- and 2-rank runs (the spread the VM's noise gives)."""
    pairs = zip(_walls(cases, kind, dim, 1), _walls(cases, kind, dim, 2))
    return [_efficiency_1_to_2(t1, t2, kind) for t1, t2 in pairs]


def _full_size_estimates(cases: list[dict]) -> dict:
    """1-rank wall per step at 1024² / 128³ from a smaller measured case, scaled by the unknowns.

    An estimate, valid as far as the iteration counts stay flat in the grid (measured in 2D: 5.2 GMRES per
    Newton step at 128² to 1024²); absent when the full size itself was measured.
    """
    out = {}
    for c in cases:
        full = 3 * (1024 ** 2 if c["dim"] == 2 else 128 ** 3)
        if c["kind"] == "strong" and c["ranks"] == 1 and c["unknowns"] < full:
            per_step = c["wall_s"] / c["steps"] * full / c["unknowns"]
            out[f"{c['dim']}D full size, 1 rank, wall per step (s), from {c['cells'][0]}^{c['dim']}"] = per_step
    return out


def _write_summary(args, steps: int, cases: list[dict]) -> dict:
    eff = {f"{d}D {n}^{d}": e for d, n in ((2, args.n2), (3, args.n3))
           if (e := _efficiency(cases, "strong", d)) is not None}
    out = {"benchmark": "pf_scaling", "quick": args.quick, "pc": args.pc, "steps": steps,
           "measure": "per-step strong scaling: the same consistent start and warm-up step from the same initial "
                      "state, then --steps backward-Euler steps of 1 ms, timed (wall, max CPU over ranks); "
                      "efficiency = T1 / (2 T2) by wall time, each T the median of the --repeat runs",
           "machine": os.uname().nodename, "cpu": cpu_model(), "cores": os.cpu_count(), "load_avg": os.getloadavg(),
           "strong_scaling_efficiency_2": min(eff.values()) if eff else None,
           "strong_scaling_efficiency_2_from": min(eff, key=eff.get) if eff else None,
           "strong_efficiency_by_case": eff, "weak_scaling_efficiency_2": _efficiency(cases, "weak", 2),
           "repeats": args.repeat, "strong_efficiency_per_repeat": {
               f"{d}D {n}^{d}": _pair_efficiencies(cases, "strong", d) for d, n in ((2, args.n2), (3, args.n3))},
           "full_size_estimates": _full_size_estimates(cases), "cases": cases}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    return eff


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
    ap.add_argument("--sbatch-np", default="",
                    help="only write jobscripts/pf_scaling.sbatch (with --quick: pf_scaling_quick.sbatch, a smoke "
                         "test) running the sweep over these ranks as one SLURM job")
    ap.add_argument("--n2", type=int, default=None, help="2D cells per side (default 1024; quick 128)")
    ap.add_argument("--n3", type=int, default=None, help="3D cells per side (default 128; quick 20)")
    ap.add_argument("--steps", type=int, default=None, help="timed backward-Euler steps (default 2; quick 2)")
    ap.add_argument("--dims", default="2,3", help="which of the 2D and 3D strong-scaling cases to run")
    ap.add_argument("--no-weak", action="store_true", help="skip the weak-scaling cases")
    ap.add_argument("--no-strong", action="store_true", help="skip the strong-scaling cases")
    ap.add_argument("--weak-n2", type=int, default=None,
                    help="2D cells per side per rank for weak scaling (default n2/2: 512² per rank)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the whole plan this many times, interleaved (1, 2, 1, 2, ... ranks), and take medians: "
                         "a VM's speed drifts by tens of percent between runs minutes apart")
    ap.add_argument("--pc", choices=sorted(LI_PRECONDITIONERS), default=None,
                    help=f"preconditioner (see --pc-study; default {DEFAULT_LI_PRECONDITIONER}: the same solver on "
                         "every rank count)")
    args = ap.parse_args()
    ranks = [int(x) for x in args.np.split(",")]
    if args.sbatch_np:
        path = REPO / "jobscripts" / f"pf_scaling{'_quick' if args.quick else ''}.sbatch"
        write_sbatch([int(x) for x in args.sbatch_np.split(",")], path, args.quick)
        print(f"wrote {path}: submit it with sbatch from the repository root")
        return 0
    if args.pc_study:
        return pc_study(ranks, [int(x) for x in args.study_grids.split(",")], args.pcs.split(","), args.json)
    n2, n3, steps, dt = (128, 20, 2, 0.001) if args.quick else (1024, 128, 2, 0.001)
    n2, n3, steps = args.n2 or n2, args.n3 or n3, args.steps or steps
    args.n2, args.n3 = n2, n3  # the summary names its cases by size
    args.pc = args.pc or DEFAULT_LI_PRECONDITIONER
    weak_n = args.weak_n2 or n2 // 2
    dims = [int(d) for d in args.dims.split(",")]
    plan = [] if args.no_strong else [("strong", dim, n, np_) for dim, n in ((2, n2), (3, n3)) if dim in dims
                                      for np_ in ranks]
    if not args.no_weak:
        plan += [("weak", 2, int(round(weak_n * np_ ** 0.5)), np_) for np_ in ranks]  # the same cells per rank
    plan *= args.repeat
    cases = []
    t_start = time.perf_counter()
    for kind, dim, n, np_ in plan:
        res = run_case(np_, dim, n, steps, dt, args.pc)
        res["kind"] = kind
        cases.append(res)
        print(f"{kind:6s} {dim}D n={n:5d} ranks={np_:3d} wall={res['wall_s']:8.2f}s cpu={res['cpu_s']:8.2f}s "
              f"newton={res['newton_its']:3d} gmres={res['linear_its']:4d} "
              f"unknowns*steps/s/core={res['throughput_per_core']:.3g} start={res['init_wall_s']:.1f}s "
              f"warm-up={res['warmup_wall_s']:.1f}s steal={res['steal_s_all_cpus']}s "
              f"[{time.perf_counter() - t_start:.0f}s since start]", flush=True)
        _write_summary(args, steps, cases)  # after every case: a stopped run keeps what it measured
    eff = _write_summary(args, steps, cases)
    print(f"strong scaling efficiency 1->2 ranks: {eff}; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
