"""Lifetime stage: training and inference time per model, and a 100-configuration hyper-parameter sweep.

    python benchmarks/lifetime.py [--quick] [--np N] [--json PATH]

1. Cycle-life models (41 training cells, features of ``examples/lifetime_severson.toml``): fit time
   of each model kind at its default hyper-parameters, and inference time per cell (all 124 cells,
   repeated). Feature extraction time per cell is listed separately.
2. Trajectory networks (32 NCM811 cells, N = 100): training time of one ensemble member (plain and
   physics-informed, the example's epochs) and forecast time per cell.
3. A 100-configuration elastic-net search (20 alphas x 5 l1 ratios, 5-fold CV on train each):
   (a) in one process; (b) spread over N MPI ranks inside one stage run (``map_over_ranks``), the
   parallel efficiency against (a); (c) as a driver sweep -- one ``bda-hpc lifetime`` process per
   configuration, run by the workflow's local executor the way a SLURM job array runs them
   (``bda-hpc run`` with a ``[stage.sweep]``); with --quick (c) runs 6 cases and the 100-case time is
   extrapolated from the per-case time (stated as such in the output).
Timings on a shared machine are noisy: every figure is the median of repeats where it is cheap.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SEVERSON = REPO.parent / "shared/data/ageing/severson_attia"
SUNWODA = REPO.parent / "shared/data/ageing/sunwoda"
ALPHAS = np.logspace(-4, 0, 20).tolist()
L1_RATIOS = [0.1, 0.3, 0.5, 0.7, 0.9]


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _features():
    from bda_hpc.lifetime.cyclelife import CycleLifeConfig, ModelSpec, spec_matrix
    from bda_hpc.lifetime.data import read_severson_split

    cells = {s: read_severson_split(SEVERSON, s) for s in ("train", "test1", "test2")}
    spec = ModelSpec("bench", "elastic_net")
    cfg = CycleLifeConfig()
    start = time.perf_counter()
    X = {s: spec_matrix(c, spec, cfg) for s, c in cells.items()}
    per_cell = (time.perf_counter() - start) / sum(len(c) for c in cells.values())
    y = np.array([c.cycle_life for c in cells["train"]])
    return X, y, per_cell


def bench_models(X, y, repeats: int) -> dict:
    from bda_hpc.lifetime.models import KINDS, build_model

    X_all = np.vstack(list(X.values()))
    out = {}
    for kind in KINDS:
        model = build_model(kind, seed=0)
        fit = _median_time(lambda m=model: m.fit(X["train"], y), 1 if kind == "mlp" else repeats)
        predict = _median_time(lambda m=model: m.predict(X_all), repeats) / len(X_all)
        out[kind] = {"fit_s": fit, "predict_s_per_cell": predict}
    return out


def bench_trajectory(epochs: int) -> dict:
    from bda_hpc.lifetime.data import read_sunwoda
    from bda_hpc.lifetime.trajectory import TrajectoryConfig, forecast, prepare, train_member

    data = prepare(read_sunwoda(SUNWODA), 100)
    cfg = TrajectoryConfig(epochs=epochs)
    train_idx, held = np.arange(24), np.arange(24, 32)
    out = {"epochs": epochs, "training_cells": 24}
    for kind in ("plain", "physics"):
        start = time.perf_counter()
        member = train_member(kind, data, train_idx, cfg, seed=0)
        out[kind] = {"train_member_s": time.perf_counter() - start,
                     "forecast_s_per_cell": _median_time(lambda m=member: forecast([m], data, held), 5) / held.size}
    return out


def sweep_in_process(X, y, comm=None) -> tuple[float, list]:
    from bda_hpc.lifetime.cyclelife import cross_validate
    from bda_hpc.lifetime.search import expand_grid, map_over_ranks

    configs = expand_grid({"alpha": ALPHAS, "l1_ratio": L1_RATIOS})
    start = time.perf_counter()
    scores = map_over_ranks(comm, configs, lambda p: float(cross_validate("elastic_net", p, X, y, 5, 0).mean()))
    return time.perf_counter() - start, scores


def mpi_worker(out_path: str) -> None:
    """Run (b) inside mpiexec: every rank computes its share; rank 0 writes the timing."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    X, y, _ = _features()
    comm.Barrier()
    wall, scores = sweep_in_process(X["train"], y, comm)
    if comm.rank == 0:
        Path(out_path).write_text(json.dumps({"wall_s": wall, "ranks": comm.size, "scores": scores}))


def sweep_mpi(ranks: int) -> dict:
    from bda_hpc.launch import mpiexec_command

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mpi.json"
        subprocess.run(mpiexec_command(ranks) + [sys.executable, __file__, "--mpi-worker", str(out)], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        return json.loads(out.read_text())


def sweep_driver(cases: int, cores: int, work: Path) -> dict:
    """``bda-hpc run`` of a one-stage pipeline whose [stage.sweep] has ``cases`` alpha values."""
    alphas = np.logspace(-4, 0, cases).tolist()
    spec = work / "sweep.toml"
    spec.write_text(f"""[pipeline]
name = "lifetime_sweep"
cores = {cores}
report = false

[[stage]]
name = "lifetime_search"
command = "lifetime"
config = "{REPO / 'examples/lifetime_severson.toml'}"
writes = ["lifetime.h5"]
provides = ["cycle_life_cv_rmse"]
set = {{ "lifetime.model" = "elastic_net", "lifetime.params.l1_ratio" = 0.5 }}
ranks = 1
[stage.sweep]
mode = "grid"
values = {{ "lifetime.params.alpha" = {json.dumps(alphas)} }}
""")
    start = time.perf_counter()
    proc = subprocess.run([str(Path(sys.executable).with_name("bda-hpc")), "run", str(spec), "--run-dir",
                           str(work / "run"), "--no-report"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"driver sweep failed:\n{proc.stderr[-3000:]}")
    table = sorted((work / "run").rglob("lifetime_search_sweep.h5"))
    return {"cases": cases, "cores": cores, "wall_s": wall, "per_case_s": wall * cores / cases,
            "sweep_table": str(table[0]) if table else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats; the driver sweep runs 6 cases")
    ap.add_argument("--np", type=int, default=2, help="MPI ranks / driver cores for the sweep (default 2)")
    ap.add_argument("--json", default=str(REPO / "benchmarks/results/lifetime.json"), help="where to write JSON")
    ap.add_argument("--mpi-worker", metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mpi_worker:
        mpi_worker(args.mpi_worker)
        return 0
    import torch

    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    result = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "quick": args.quick,
              "note": "shared machine: timings are noisy"}
    X, y, feat_per_cell = _features()
    result["features_s_per_cell"] = feat_per_cell
    result["models"] = bench_models(X, y, repeats)
    result["trajectory"] = bench_trajectory(400)
    serial_wall, serial_scores = sweep_in_process(X["train"], y)
    mpi = sweep_mpi(args.np)
    assert np.allclose(mpi["scores"], serial_scores), "MPI sweep disagrees with the serial sweep"
    with tempfile.TemporaryDirectory() as tmp:
        driver = sweep_driver(6 if args.quick else 100, args.np, Path(tmp))
    result["sweep_100"] = {
        "configs": 100, "cv_folds": 5,
        "in_process_s": serial_wall,
        "mpi": {"ranks": mpi["ranks"], "wall_s": mpi["wall_s"],
                "parallel_efficiency": serial_wall / (mpi["wall_s"] * mpi["ranks"])},
        "driver": {**driver, "wall_s_for_100": driver["per_case_s"] * 100 / driver["cores"],
                   "extrapolated": driver["cases"] != 100},
    }
    print(f"{'model':12s} {'fit (s)':>9s} {'predict (µs/cell)':>18s}")
    for kind, row in result["models"].items():
        print(f"{kind:12s} {row['fit_s']:9.4f} {1e6 * row['predict_s_per_cell']:18.1f}")
    print(f"features: {1e3 * feat_per_cell:.2f} ms/cell")
    for kind in ("plain", "physics"):
        t = result["trajectory"][kind]
        print(f"trajectory {kind:8s} train one member {t['train_member_s']:6.1f} s (400 epochs, 24 cells); "
              f"forecast {1e3 * t['forecast_s_per_cell']:.2f} ms/cell")
    s = result["sweep_100"]
    print(f"100-config sweep: in process {s['in_process_s']:.1f} s; MPI {s['mpi']['ranks']} ranks "
          f"{s['mpi']['wall_s']:.1f} s (efficiency {s['mpi']['parallel_efficiency']:.2f}); driver "
          f"({driver['cases']} cases on {driver['cores']} cores) {driver['wall_s']:.1f} s, "
          f"{driver['per_case_s']:.1f} core-s/case -> {s['driver']['wall_s_for_100']:.0f} s for 100"
          + (" (extrapolated)" if s["driver"]["extrapolated"] else ""))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
