"""MD cost of the bda NNP in LAMMPS (plugin bda/nnp) against SNAP Li in the same LAMMPS and the Python/ASE path.

Prints a table and writes JSON. Per-core cost is µs per atom per step per core = LAMMPS loop wall time
x ranks / (atoms x steps), NVE on a bcc Li cell, same system and run for both potentials and 1 and 2
ranks; the ASE path (NNPCalculator + VelocityVerlet, one core) on the same cell. LAMMPS costs use its
loop time x its reported CPU share (what a dedicated core would take: this machine is often shared);
the plain wall-time figures are in the JSON too. Also: strong scaling
1 -> 2 ranks on a large cell, the plugin/ASE agreement on a 16,000-atom cell and the test set (1 and
2 ranks), test-set errors of both potentials against DFT, and memory per atom (slope of the peak RSS
of one LAMMPS rank between two cell sizes). The machine may be shared: JSON records the load average.

Strong scaling alone (the >= 100,000-atom case, shipped model, a few minutes on a quiet 2-core node):
    .venv/bin/python benchmarks/md.py --scaling-only --json benchmarks/results/md_scaling.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SNAP_DIR = None  # set in main from the LAMMPS of the plugin


def bcc(repeat: int, a: float = 3.44, rattle: float = 0.05, seed: int = 0):
    from ase.build import bulk

    atoms = bulk("Li", "bcc", a=a, cubic=True).repeat((repeat,) * 3)
    atoms.rattle(rattle, seed=seed)
    return atoms


def md_script(potential: str, repeat: int, steps: int, memory: bool = False) -> str:
    return ("units metal\natom_style atomic\n"
            f"lattice bcc 3.44\nregion box block 0 {repeat} 0 {repeat} 0 {repeat}\ncreate_box 1 box\n"
            "create_atoms 1 box\nmass 1 6.94\n" + potential + "neighbor 1.0 bin\n"
            "velocity all create 600 7 mom yes rot yes\ntimestep 0.001\nfix 1 all nve\nthermo 1000\n"
            "run 2\n"  # warm-up: neighbour lists, first allocation
            f"run {steps}\n" + ("info memory\n" if memory else ""))


def lammps_cost(env, potential: str, repeat: int, steps: int, nprocs: int, workdir: Path, memory=False):
    from bda_hpc.atomistic.lammps.runner import run_lammps

    parser = run_lammps(env, md_script(potential, repeat, steps, memory), workdir, nprocs, table=False)
    seconds, ranks, nsteps, atoms = parser.loops[-1]
    # on a shared machine a rank gets a fraction of its core: CPU time = wall x CPU% is the time it
    # would have taken on a core of its own (MPI waiting polls, so it is counted as CPU)
    cpu_s = seconds * min(parser.cpu_percent[-1], 100.0) / 100.0
    return {"atoms": atoms, "ranks": ranks, "steps": nsteps, "loop_s": seconds, "cpu_percent": parser.cpu_percent[-1],
            "cpu_s": cpu_s, "us_per_atom_step_core": cpu_s * ranks / (atoms * nsteps) * 1e6,
            "wall_us_per_atom_step_core": seconds * ranks / (atoms * nsteps) * 1e6,
            "max_rss_mb": parser.max_rss_mb[-1] if parser.max_rss_mb else None}


def peak_memory(env, potential: str, repeat: int, workdir: Path) -> dict:
    """One rank's cost and peak RSS. LAMMPS is started through mpiexec even on one rank: Linux keeps a
    process's peak RSS across fork + exec, so a LAMMPS forked straight from this (large) Python process
    would report this process's peak instead of its own."""
    os.environ["BDA_LAMMPS_LAUNCHER"] = f"{env.mpiexec} -n {{n}}"
    try:
        return lammps_cost(env, potential, repeat, 1, 1, workdir, memory=True)
    finally:
        del os.environ["BDA_LAMMPS_LAUNCHER"]


def ase_cost(model_h5: Path, repeat: int, steps: int) -> dict:
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from bda_hpc.atomistic.calculator import NNPCalculator

    atoms = bcc(repeat, rattle=0.05)
    atoms.calc = NNPCalculator(str(model_h5))
    dyn = VelocityVerlet(atoms, 1.0 * units.fs)
    dyn.run(1)
    t0, c0 = time.perf_counter(), time.process_time()
    dyn.run(steps)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0   # CPU time: as for LAMMPS above
    return {"atoms": len(atoms), "steps": steps, "seconds": seconds, "cpu_s": cpu,
            "us_per_atom_step_core": cpu / (len(atoms) * steps) * 1e6}


def agreement(env, model_h5: Path, model_text: Path, workdir: Path) -> dict:
    """Worst relative differences plugin vs ASE calculator: test set + a 16,000-atom cell, 1 and 2 ranks."""
    from bda_hpc.atomistic.lammps.inputs import nnp_potential
    from bda_hpc.atomistic.lammps.single_point import ase_reference, lammps_single_points, max_relative_differences
    from bda_hpc.atomistic.structures import load_dataset

    structures = [s.to_atoms() for s in load_dataset(REPO.parent / "shared/data/li_dft_mlearn/test.json")]
    structures.append(bcc(20, rattle=0.08, seed=3))  # 16,000 atoms
    ref = ase_reference(structures, model_h5)
    out = {}
    for n in (1, 2):
        got = lammps_single_points(env, structures, ["Li"], nnp_potential(env.plugin, model_text, ["Li"]),
                                   workdir / f"agree{n}", n)
        out[n] = max_relative_differences(got, ref)
    return out


def test_set_errors(env, potential: str, workdir: Path) -> dict:
    """Energy MAE (meV/atom) and force RMSE (eV/Å) against the DFT test set."""
    from bda_hpc.atomistic.lammps.single_point import lammps_single_points
    from bda_hpc.atomistic.structures import load_dataset

    data = load_dataset(REPO.parent / "shared/data/li_dft_mlearn/test.json")
    got = lammps_single_points(env, [s.to_atoms() for s in data], ["Li"], potential, workdir)
    de = np.array([(g.energy - s.energy) / len(s) for g, s in zip(got, data)])
    df = np.concatenate([(g.forces - s.forces).ravel() for g, s in zip(got, data)])
    return {"energy_mae_mev_per_atom": float(np.abs(de).mean() * 1e3),
            "energy_mae_offset_removed_mev_per_atom": float(np.abs(de - de.mean()).mean() * 1e3),
            "force_rmse_ev_per_a": float(np.sqrt(np.mean(df ** 2)))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller cells and fewer steps (minutes)")
    parser.add_argument("--np", type=int, default=2, help="largest rank count (default 2)")
    parser.add_argument("--model", help="NNP model .h5 (default: the shipped one, else random weights of the "
                                        "production architecture: same cost, no physics)")
    parser.add_argument("--json", default="benchmarks/results/md.json")
    parser.add_argument("--scaling-only", action="store_true",
                        help="only the strong-scaling case (128,000 atoms, 1 -> --np ranks, --scaling-steps steps)")
    parser.add_argument("--scaling-steps", type=int, default=None, help="MD steps per scaling run (default 3; "
                        "10 with --scaling-only)")
    args = parser.parse_args(argv)

    from bda_hpc.atomistic.lammps.build import build
    from bda_hpc.atomistic.lammps.environment import LammpsEnv
    from bda_hpc.atomistic.lammps.inputs import nnp_potential, snap_potential
    from bda_hpc.atomistic.lammps.models import random_model
    from bda_hpc.atomistic.model_file import default_model_path, load_model

    env = LammpsEnv.load(build())
    work = Path(tempfile.mkdtemp(prefix="bda_md_bench_"))
    model_path = Path(args.model) if args.model else default_model_path()
    if model_path.is_file():
        model, model_name = load_model(model_path), str(model_path)
    else:
        model, model_name = random_model(seed=7), "random weights (no trained model available)"
    model_h5, model_text = work / "model.h5", work / "model.nnp"
    model.save(model_h5)
    model_text.write_text(model.to_text())
    potentials = Path(env.lmp).parent / "share" / "lammps" / "potentials"
    pot = {"nnp": nnp_potential(env.plugin, model_text, ["Li"]), "snap": snap_potential(potentials)}

    repeat, steps = (10, 5) if args.quick else (20, 5)            # 2,000 / 16,000 atoms
    big_repeat = 20 if args.quick and not args.scaling_only else 40   # 16,000 / 128,000 atoms
    big_steps = args.scaling_steps or (10 if args.scaling_only else 3)
    ranks = [n for n in (1, 2, 4, 8) if n <= args.np]
    if args.scaling_only:
        return write_json(args.json, scaling_only(env, pot["nnp"], big_repeat, big_steps, ranks, work, model_name))
    rows = {}
    for name in ("nnp", "snap"):
        for n in ranks:
            rows[f"{name}_{n}"] = lammps_cost(env, pot[name], repeat, steps, n, work / f"{name}{n}")
            r = rows[f"{name}_{n}"]
            print(f"{name:5s} {n} rank(s) {r['atoms']:7d} atoms: {r['us_per_atom_step_core']:8.1f} µs/atom/step/core",
                  flush=True)
    ase = ase_cost(model_h5, repeat if args.quick else 10, 2)
    print(f"ASE   1 rank  {ase['atoms']:7d} atoms: {ase['us_per_atom_step_core']:8.1f} µs/atom/step/core", flush=True)
    scaling, eff, wall_eff = strong_scaling(env, pot["nnp"], big_repeat, big_steps, ranks, work)
    small, large = (peak_memory(env, pot["nnp"], r, work / f"mem{r}") for r in (16, 24))
    bytes_per_atom = (large["max_rss_mb"] - small["max_rss_mb"]) * 2 ** 20 / (large["atoms"] - small["atoms"])
    agree = agreement(env, model_h5, model_text, work)
    errors = {name: test_set_errors(env, pot[name], work / f"err_{name}") for name in ("nnp", "snap")}

    top = max(ranks)
    result = {
        "benchmark": "md", "quick": args.quick, "model": model_name, "machine": platform.node(),
        "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "lammps_version": env.lammps_version,
        "nnp_lammps_us": rows["nnp_1"]["us_per_atom_step_core"],
        "snap_lammps_us": rows["snap_1"]["us_per_atom_step_core"],
        f"nnp_lammps_us_{top}": rows[f"nnp_{top}"]["us_per_atom_step_core"],
        f"snap_lammps_us_{top}": rows[f"snap_{top}"]["us_per_atom_step_core"],
        "ase_us": ase["us_per_atom_step_core"],
        "snap_over_nnp": rows["snap_1"]["us_per_atom_step_core"] / rows["nnp_1"]["us_per_atom_step_core"],
        "ase_over_nnp_lammps": ase["us_per_atom_step_core"] / rows["nnp_1"]["us_per_atom_step_core"],
        "strong_scaling_atoms": scaling[1]["atoms"],
        **{f"strong_scaling_efficiency_{n}": eff[n] for n in ranks if n > 1},
        **{f"strong_scaling_efficiency_{n}_wall": wall_eff[n] for n in ranks if n > 1},
        "memory_bytes_per_atom_per_rank": bytes_per_atom,
        "memory_max_rss_mb": {str(small["atoms"]): small["max_rss_mb"], str(large["atoms"]): large["max_rss_mb"]},
        "memory_for_1e7_atoms_gib": bytes_per_atom * 1e7 / 2 ** 30,
        "max_force_rel_diff_vs_ase": max(a["forces"] for a in agree.values()),
        "agreement_vs_ase": {str(n): a for n, a in agree.items()},
        "test_set_errors": errors, "timings": rows, "ase": ase,
        "strong_scaling": {str(n): s for n, s in scaling.items()},
    }
    print(f"\n{'':24s} {'NNP (bda/nnp)':>14s} {'SNAP':>10s}")
    for n in ranks:
        print(f"µs/atom/step/core, {n} rk {rows[f'nnp_{n}']['us_per_atom_step_core']:14.1f} "
              f"{rows[f'snap_{n}']['us_per_atom_step_core']:10.1f}")
    print(f"test set force RMSE eV/Å {errors['nnp']['force_rmse_ev_per_a']:14.4f} "
          f"{errors['snap']['force_rmse_ev_per_a']:10.4f}")
    print(f"test set energy MAE meV/atom {errors['nnp']['energy_mae_mev_per_atom']:10.2f} "
          f"{errors['snap']['energy_mae_mev_per_atom']:10.2f}")
    print(f"ASE path: {ase['us_per_atom_step_core']:.1f} µs/atom/step ({result['ase_over_nnp_lammps']:.1f}x LAMMPS)")
    for n in ranks[1:]:
        print(f"strong scaling 1 -> {n} ranks on {scaling[1]['atoms']} atoms: efficiency {eff[n]:.2f} "
              f"(CPU time; wall time: {wall_eff[n]:.2f})")
    print(f"memory {bytes_per_atom:.0f} B/atom/rank -> 1e7 atoms: {result['memory_for_1e7_atoms_gib']:.1f} GiB total")
    print(f"plugin vs ASE worst relative differences: {json.dumps(result['agreement_vs_ase'])}")
    write_json(args.json, result)


def strong_scaling(env, potential: str, repeat: int, steps: int, ranks: list[int], work: Path):
    """Runs on each rank count; efficiencies from CPU time (what dedicated cores take) and from wall time."""
    runs = {n: lammps_cost(env, potential, repeat, steps, n, work / f"big{n}") for n in ranks}
    eff = {n: runs[1]["cpu_s"] / (n * runs[n]["cpu_s"]) for n in ranks}
    wall_eff = {n: runs[1]["loop_s"] / (n * runs[n]["loop_s"]) for n in ranks}
    return runs, eff, wall_eff


def scaling_only(env, potential: str, repeat: int, steps: int, ranks: list[int], work: Path, model_name: str):
    runs, eff, wall_eff = strong_scaling(env, potential, repeat, steps, ranks, work)
    for n in ranks:
        r = runs[n]
        print(f"{r['atoms']} atoms, {n} rank(s), {steps} steps: loop {r['loop_s']:.1f} s, "
              f"CPU {r['cpu_percent']:.0f} %, "
              f"{r['us_per_atom_step_core']:.1f} µs/atom/step/core, efficiency {eff[n]:.2f} (wall {wall_eff[n]:.2f})")
    return {"benchmark": "md", "scaling_only": True, "model": model_name, "machine": platform.node(),
            "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "lammps_version": env.lammps_version,
            "strong_scaling_atoms": runs[1]["atoms"], "steps": steps,
            **{f"strong_scaling_efficiency_{n}": eff[n] for n in ranks if n > 1},
            **{f"strong_scaling_efficiency_{n}_wall": wall_eff[n] for n in ranks if n > 1},
            "strong_scaling": {str(n): r for n, r in runs.items()}}


def write_json(path, result: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
