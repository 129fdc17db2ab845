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
   configuration (``cv_only``: train read, CV scored, nothing else) -- run by the local executor
   (``bda-hpc run``, N cases at a time) and as a SLURM job array (``bda-hpc submit --scheduler slurm
   --wait`` on a one-node SLURM started for the purpose, N CPUs); each case's score is checked
   against (a); each case reads the training features from a cache shared by the cases (--feature-cache on,
   the default; "off" parses the CSVs in every case, "both" runs the two for the ratio). With --quick the
   driver sweeps run the first 10 configurations.
   Headline rerun: ``python benchmarks/lifetime.py --parts sweep,driver --json benchmarks/results/lifetime_sweep.json``.
4. ``published``: Severson et al.'s variance and discharge models reproduced as fixed models
   (bda_hpc/lifetime/published.py) beside the paper's Table 1 -- the discharge model over five Monte Carlo
   CV seeds -- and the discharge model with one step at a time replaced (ablations); fit CPU time.
   Rerun: ``python benchmarks/lifetime.py --parts published --json benchmarks/results/lifetime_published.json``
   (~3-4 min on one core).
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


def sweep_spec(work: Path, cases: int, feature_cache: bool) -> Path:
    """A one-stage pipeline whose [stage.sweep] is the first ``cases`` points of the 20 x 5 elastic-net grid; each
    case is ``bda-hpc lifetime ... cv_only = true`` (5-fold CV on train, no test reads, no plots), with the
    training features from a cache directory shared by the cases when ``feature_cache`` (the first case to
    finish parsing writes it)."""
    points = [(a, r) for a in ALPHAS for r in L1_RATIOS][:cases]
    cache = f', "lifetime.feature_cache" = "{work / "features"}"' if feature_cache else ""
    spec = work / "sweep.toml"
    spec.write_text(f"""[pipeline]
name = "lifetime_sweep"
report = false

[slurm]
poll_seconds = 1.0

[[stage]]
name = "lifetime_search"
command = "lifetime"
config = "{REPO / 'examples/lifetime_severson.toml'}"
writes = ["lifetime.h5"]
provides = ["cycle_life_cv_rmse"]
set = {{ "lifetime.model" = "elastic_net", "lifetime.cv_only" = true{cache} }}
ranks = 1
time = "00:10:00"
memory = "1G"
[stage.sweep]
mode = "list"
[stage.sweep.values]
"lifetime.params.alpha" = {json.dumps([a for a, _ in points])}
"lifetime.params.l1_ratio" = {json.dumps([r for _, r in points])}
""")
    return spec


def sweep_driver(cases: int, cores: int, work: Path, scheduler: str, feature_cache: bool) -> dict:
    """Wall time of the driver sweep: ``bda-hpc run`` (local executor, ``cores`` at a time) or ``bda-hpc submit
    --scheduler slurm --wait`` (one job array plus a gather job on the one-node SLURM of tests/slurm_cluster.py)."""
    spec = sweep_spec(work, cases, feature_cache)
    cli = str(Path(sys.executable).with_name("bda-hpc"))
    cluster = None
    if scheduler == "slurm":
        sys.path.insert(0, str(REPO / "tests"))
        from slurm_cluster import SlurmCluster, missing_binaries

        if missing_binaries():
            raise RuntimeError(f"SLURM binaries missing: {missing_binaries()}")
        cluster = SlurmCluster(work / "slurm", cpus=cores).start()
        cmd = [cli, "submit", str(spec), "--scheduler", "slurm", "--run-dir", str(work / "run"), "--wait",
               "--timeout", "5400", "--no-report"]
    else:
        cmd = [cli, "run", str(spec), "--run-dir", str(work / "run"), "--cores", str(cores), "--no-report"]
    try:
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        wall = time.perf_counter() - start
    finally:
        if cluster is not None:
            cluster.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{scheduler} driver sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    from bda_hpc.workflow.sweep import read_sweep_table

    _, columns, _ = read_sweep_table(work / "run/lifetime_search/lifetime_search_sweep.h5")
    return {"scheduler": scheduler, "feature_cache": feature_cache, "cases": cases, "cores": cores, "wall_s": wall,
            "core_s_per_case": wall * cores / cases, "cv_rmse": columns["cycle_life_cv_rmse"].tolist()}


def bench_published() -> dict:
    """Severson et al.'s models reproduced, the ablations, and test2's covariate shift (seed-0 discharge model)."""
    from bda_hpc.lifetime import plots, published, shift

    cpu0 = time.process_time()
    out = published.reproduction_table(SEVERSON)
    out["cpu_s"] = time.process_time() - cpu0
    print(published.format_reproduction(out))
    print(f"published models: {out['cpu_s']:.0f} CPU s")
    names = published.PUBLISHED_FEATURES["discharge"]
    X, y = shift.split_matrices(SEVERSON, names)
    model = published.fit_published("discharge", SEVERSON, published.PUBLISHED_PROTOCOL["discharge"], seed=0).estimator
    pred = {s: model.predict(X[s]) for s in X}
    out["covariate_shift"] = shift.covariate_shift(X, y, names, pred)
    png = plots.covariate_shift(X, y, names, pred, REPO / "benchmarks/results/lifetime_published_shift.png")
    for name, row in out["covariate_shift"]["features"].items():
        print(f"{name:22s} " + "  ".join(f"{s}: {r['shift_train_sd']:+.2f} sd, KS p {r['ks_pvalue']:.3f}"
                                         for s, r in row.items()))
    print(f"covariate shift plot: {png}")
    return out


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats; driver sweeps run 10 cases, not 100")
    ap.add_argument("--np", type=int, default=2, help="MPI ranks / driver cores for the sweep (default 2)")
    ap.add_argument("--parts", default="models,trajectory,sweep,driver",
                    help="comma-separated subset of models,trajectory,sweep,driver,published (default: all but "
                         "published)")
    ap.add_argument("--drivers", default="local,slurm",
                    help="driver executors for the 'driver' part: local and/or slurm (the one-node SLURM of "
                         "tests/slurm_cluster.py, started and stopped here; needs root and slurm-wlm/munge)")
    ap.add_argument("--feature-cache", default="on", choices=("on", "off", "both"),
                    help="driver sweep cases share cached training features (on), parse the CSVs each (off), or "
                         "run both for the ratio (default: on)")
    ap.add_argument("--json", default=str(REPO / "benchmarks/results/lifetime.json"), help="where to write JSON")
    ap.add_argument("--mpi-worker", metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mpi_worker:
        mpi_worker(args.mpi_worker)
        return 0
    import torch

    torch.set_num_threads(1)
    parts = set(args.parts.split(","))
    repeats = 3 if args.quick else 7
    result = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "quick": args.quick, "parts": sorted(parts),
              "load_before": _load(), "note": "shared machine: timings are noisy"}
    X, y, feat_per_cell = _features()
    result["features_s_per_cell"] = feat_per_cell
    if "models" in parts:
        result["models"] = bench_models(X, y, repeats)
        print(f"{'model':12s} {'fit (s)':>9s} {'predict (µs/cell)':>18s}")
        for kind, row in result["models"].items():
            print(f"{kind:12s} {row['fit_s']:9.4f} {1e6 * row['predict_s_per_cell']:18.1f}")
        print(f"features: {1e3 * feat_per_cell:.2f} ms/cell")
    if "trajectory" in parts:
        result["trajectory"] = bench_trajectory(400)
        for kind in ("plain", "physics"):
            t = result["trajectory"][kind]
            print(f"trajectory {kind:8s} train one member {t['train_member_s']:6.1f} s (400 epochs, 24 cells); "
                  f"forecast {1e3 * t['forecast_s_per_cell']:.2f} ms/cell")
    sweep = result["sweep_100"] = {"configs": 100, "cv_folds": 5}
    serial_scores = None
    if "sweep" in parts:
        cpu0 = time.process_time()
        serial_wall, serial_scores = sweep_in_process(X["train"], y)
        mpi = sweep_mpi(args.np)
        assert np.allclose(mpi["scores"], serial_scores), "MPI sweep disagrees with the serial sweep"
        sweep.update(in_process_s=serial_wall, in_process_cpu_s=time.process_time() - cpu0,
                     mpi={"ranks": mpi["ranks"], "wall_s": mpi["wall_s"],
                          "parallel_efficiency": serial_wall / (mpi["wall_s"] * mpi["ranks"])})
        print(f"100-config sweep: in process {serial_wall:.1f} s; MPI {mpi['ranks']} ranks {mpi['wall_s']:.1f} s "
              f"(efficiency {sweep['mpi']['parallel_efficiency']:.2f})")
    if "driver" in parts:
        cases = 10 if args.quick else 100
        sweep["driver"] = {}
        caches = {"on": [True], "off": [False], "both": [False, True]}[args.feature_cache]
        for scheduler in args.drivers.split(","):
            for cached in caches:
                with tempfile.TemporaryDirectory() as tmp:
                    row = sweep_driver(cases, args.np, Path(tmp), scheduler, cached)
                row["load_after"] = _load()
                if serial_scores is not None:   # every case must score what the in-process search scored
                    row["matches_in_process"] = bool(np.allclose(row["cv_rmse"], serial_scores[:cases], rtol=1e-9))
                sweep["driver"][scheduler + ("_cached" if cached else "")] = row
                print(f"driver sweep ({scheduler}, feature cache {'on' if cached else 'off'}): {cases} cases on "
                      f"{args.np} cores {row['wall_s']:.1f} s wall, {row['core_s_per_case']:.1f} core-s per case")
    if "published" in parts:
        result["published"] = bench_published()
    result["load_after"] = _load()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
