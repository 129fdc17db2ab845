"""Voxel FEM effective transport: assembly rate, solver scaling with image size, taufactor, strong scaling.

    python benchmarks/fem.py [--quick] [--np N] [--json PATH]

All times are wall-clock and CPU time of the measuring process(es); on a shared machine the CPU time
is the fairer per-core figure, so both are stored.

1. Assembly: Q1 Laplacian (and the FV matrix) on a synthetic electrode, elements per second per core.
2. Peer: time to a tortuosity factor within 1e-4 of the converged value, ours (FV, the same
   discretisation as taufactor; CG with GAMG and with ML) against taufactor's SOR (torch, one thread)
   on the same image and one core, in this run.
3. Strong scaling: assembly + solve on 1 .. N ranks (mpiexec) on a >= 200^3 image (--quick: 96^3);
   efficiency = T1 / (N T_N).
4. Size sweep: solve time and CG+GAMG iterations from 32^3 up to 256^3 voxels for FV (Q1 to 64^3;
   --quick: up to 64^3 / 48^3), same particle size in voxels: the same structure, only larger.
The JSON is rewritten after every part, so a killed run keeps what it measured.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def electrode(n: int, seed: int = 1) -> np.ndarray:
    """Pore mask of a synthetic electrode: porosity 0.4, spheres of mean radius 5 voxels."""
    from bda_hpc.microstructure.generate import ParticleSpec, generate

    spec = ParticleSpec(shape=[n, n, n], voxel_size=1e-6, porosity=0.4, radius_mean=5e-6, radius_std=1e-6,
                        seed=seed)
    return generate(spec) == 0


def assembly_rate(comm, n: int, scheme: str, repeats: int = 3) -> dict:
    from bda_hpc.fem.assembly import assemble, assemble_fv
    from bda_hpc.fem.grid import VoxelGrid
    from bda_hpc.fem.transport import _dirichlet_nodes

    sigma = electrode(n).astype(float)
    grid = VoxelGrid(comm, sigma.shape, cell_centred=scheme == "fv")
    fixed = _dirichlet_nodes(grid, 0)
    best_cpu, best_wall = np.inf, np.inf
    for _ in range(repeats):
        t_cpu, t_wall = time.process_time(), time.perf_counter()
        A, b = assemble_fv(grid, sigma, 0) if scheme == "fv" else assemble(grid, sigma, fixed)
        best_cpu = min(best_cpu, time.process_time() - t_cpu)
        best_wall = min(best_wall, time.perf_counter() - t_wall)
        A.destroy()
        b.destroy()
    grid.destroy()
    return {"scheme": scheme, "voxels": n**3, "cpu_s": best_cpu, "wall_s": best_wall,
            "elements_per_s_per_core_cpu": n**3 / best_cpu, "elements_per_s_per_core_wall": n**3 / best_wall}


def sweep(comm, sizes, scheme: str) -> list[dict]:
    from bda_hpc.fem.transport import tortuosity

    rows = []
    for n in sizes:
        mask = electrode(n)
        t0, c0 = time.perf_counter(), time.process_time()
        t = tortuosity(comm, mask, 0, scheme=scheme)
        rows.append({"scheme": scheme, "n": n, "tortuosity": t.tortuosity, "iterations": t.result.iterations,
                     "assemble_s": t.result.assemble_s, "solve_s": t.result.solve_s,
                     "total_s": time.perf_counter() - t0, "total_cpu_s": time.process_time() - c0})
        print(f"  sweep {scheme} {n}^3: tau {t.tortuosity:.4f}, {t.result.iterations} it, "
              f"solve {t.result.solve_s:.2f} s", flush=True)
    return rows


def peer(comm, n: int) -> dict:
    """Ours vs taufactor on one image and one core: time to |tau - tau_converged| < 1e-4 tau."""
    import taufactor as tf
    import torch

    from bda_hpc.fem.transport import tortuosity

    torch.set_num_threads(1)
    mask = electrode(n, seed=3)
    reference = tortuosity(comm, mask, 0, solver_options={"ksp_rtol": 1e-12, "ksp_max_it": 2000},
                           scheme="fv").tortuosity
    ours = {}
    for pc in ("gamg", "ml"):
        for rtol in (1e-4, 1e-5, 1e-6, 1e-7, 1e-8):  # the loosest tolerance that meets 1e-4
            t0, c0 = time.perf_counter(), time.process_time()
            tau = tortuosity(comm, mask, 0, solver_options={"ksp_rtol": rtol, "pc_type": pc}, scheme="fv").tortuosity
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if abs(tau - reference) < 1e-4 * reference:
                ours[pc] = {"rtol": rtol, "seconds": wall, "cpu_seconds": cpu, "tau": tau}
                break
    peer_runs = []
    for crit in (1e-2, 1e-3, 1e-4):
        t0, c0 = time.perf_counter(), time.process_time()
        solver = tf.Solver(mask.astype(np.uint8), device="cpu")
        tau = float(np.asarray(solver.solve(verbose=False, conv_crit=crit, iter_limit=200000))[0])
        peer_runs.append({"conv_crit": crit, "seconds": time.perf_counter() - t0,
                          "cpu_seconds": time.process_time() - c0, "tau": tau,
                          "iterations": solver.iter, "rel_error": abs(tau - reference) / reference})
        if peer_runs[-1]["rel_error"] < 1e-4:
            break
    met = [r for r in peer_runs if r["rel_error"] < 1e-4]
    return {"n": n, "tau_converged": reference, "ours": ours, "taufactor_runs": peer_runs,
            "taufactor_cpu_seconds_to_1e-4": met[0]["cpu_seconds"] if met else None,
            "cpu_speedup_vs_taufactor": {pc: met[0]["cpu_seconds"] / o["cpu_seconds"] for pc, o in ours.items()}
            if met else None}


def scaling_worker(n: int, scheme: str) -> None:
    """Run under mpiexec: prints one JSON line with the assembly and solve times of this rank count."""
    from mpi4py import MPI

    from bda_hpc.fem.transport import tortuosity

    comm = MPI.COMM_WORLD
    mask = electrode(n)
    tortuosity(comm, mask[:24, :24, :24], 0, scheme=scheme)  # warm-up: imports, PETSc setup
    comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    t = tortuosity(comm, mask, 0, scheme=scheme)
    cpu = comm.allreduce(time.process_time() - c0)
    comm.Barrier()
    total = time.perf_counter() - t0
    if comm.rank == 0:
        print(json.dumps({"ranks": comm.size, "n": n, "scheme": scheme, "total_s": total, "cpu_s_all_ranks": cpu,
                          "assemble_s": t.result.assemble_s, "solve_s": t.result.solve_s,
                          "iterations": t.result.iterations, "tortuosity": t.tortuosity}))


def strong_scaling(n: int, max_ranks: int, scheme: str) -> list[dict]:
    from bda_hpc.launch import mpiexec_command

    rows = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    for ranks in range(1, max_ranks + 1):
        cmd = mpiexec_command(ranks) + [sys.executable, __file__, "--worker", str(n), "--scheme", scheme]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        if proc.returncode != 0:
            raise RuntimeError(f"scaling run on {ranks} ranks failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  scaling {scheme} {n}^3 on {ranks} rank(s): {rows[-1]['total_s']:.2f} s", flush=True)
    for row in rows:
        row["efficiency"] = rows[0]["total_s"] / (row["ranks"] * row["total_s"])
        # CPU-time work efficiency: T1_cpu / sum of the ranks' CPU time (parallel overhead only; on a
        # shared machine the wall-clock efficiency also measures the other users)
        row["cpu_work_efficiency"] = rows[0]["cpu_s_all_ranks"] / row["cpu_s_all_ranks"]
    return rows


ALL_PARTS = {"assembly", "peer", "scaling", "sweep"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--np", type=int, default=2, help="largest rank count for strong scaling (default 2)")
    ap.add_argument("--json", default=str(REPO / "benchmarks/results/fem.json"), help="where to write JSON")
    ap.add_argument("--parts", default="assembly,peer,scaling,sweep",
                    help="comma-separated parts to run; others are kept from an existing JSON at --json")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--scheme", default="fv", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.worker:
        scaling_worker(args.worker, args.scheme)
        return 0
    from mpi4py import MPI

    comm = MPI.COMM_SELF
    quick = args.quick
    sizes = [32, 48, 64] if quick else [32, 64, 128, 256]
    q1_sizes = [32, 48] if quick else [32, 64]
    parts = set(args.parts.split(","))
    if parts - ALL_PARTS:
        ap.error(f"--parts: unknown {', '.join(sorted(parts - ALL_PARTS))} "
                 f"(choose from {', '.join(sorted(ALL_PARTS))})")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    results: dict = json.loads(path.read_text()) if parts != ALL_PARTS and path.exists() else {}
    results.update({"machine": os.uname().nodename, "cores": os.cpu_count(), "quick": quick})
    if not isinstance(results.get("load_average_start"), dict):  # a file from before --parts
        results["load_average_start"] = {"earlier_parts": results.get("load_average_start")}
    for part in parts:
        results["load_average_start"][part] = os.getloadavg()

    def save() -> None:  # after every part, so a killed run keeps what it measured
        results["load_average_now"] = os.getloadavg()
        path.write_text(json.dumps(results, indent=1) + "\n")

    if "assembly" in parts:
        print("1. assembly rate", flush=True)
        results["assembly"] = [assembly_rate(comm, 64 if quick else 128, s) for s in ("q1", "fv")]
        save()
    if "peer" in parts:
        print("2. taufactor", flush=True)
        results["peer"] = peer(comm, 48 if quick else 100)
        save()
    if "scaling" in parts:
        print("3. strong scaling", flush=True)
        results["scaling"] = strong_scaling(96 if quick else 200, args.np, "fv")
        save()
    if "sweep" in parts:
        print("4. size sweep", flush=True)
        results["sweep"] = []
        for scheme, scheme_sizes in (("fv", sizes), ("q1", q1_sizes)):
            for n in scheme_sizes:
                results["sweep"] += sweep(comm, [n], scheme)
                save()

    print("\nassembly (elements/s per core)      cpu-time based   wall-time based")
    for r in results.get("assembly", []):
        print(f"  {r['scheme']:3s} {round(r['voxels'] ** (1 / 3))}^3 {'':18s}{r['elements_per_s_per_core_cpu']:12.3g}"
              f"   {r['elements_per_s_per_core_wall']:12.3g}")
    print("\nsize sweep          n   iterations  assemble_s  solve_s  total_cpu_s  tau")
    for r in results.get("sweep", []):
        print(f"  {r['scheme']:3s} {r['n']:12d} {r['iterations']:10d} {r['assemble_s']:10.2f} {r['solve_s']:8.2f}"
              f" {r['total_cpu_s']:11.2f}  {r['tortuosity']:.4f}")
    p = results.get("peer", {"n": 0, "tau_converged": float("nan"), "ours": {}, "taufactor_runs": []})
    print(f"\ntaufactor on {p['n']}^3 (converged tau {p['tau_converged']:.5f}):")
    for pc, o in p["ours"].items():
        print(f"  ours (FV, CG+{pc}, rtol {o['rtol']:g}): {o['cpu_seconds']:.2f} s CPU, {o['seconds']:.2f} s wall")
    for r in p["taufactor_runs"]:
        print(f"  taufactor conv_crit {r['conv_crit']:g}: {r['cpu_seconds']:.2f} s CPU, {r['seconds']:.2f} s wall, "
              f"{r['iterations']} iterations, rel. error {r['rel_error']:.1e}")
    print("\nstrong scaling      ranks   total_s   efficiency   cpu-work efficiency")
    for r in results.get("scaling", []):
        print(f"  {r['scheme']:3s} {r['n']}^3 {r['ranks']:10d} {r['total_s']:9.2f} {r['efficiency']:10.2f}"
              f" {r['cpu_work_efficiency']:12.2f}")
    save()
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
