"""Design layer: simulation throughput, surrogate accuracy on >= 200 runs, training time, speed-up.

    python benchmarks/design.py [--quick] [--np CORES] [--json PATH] [--work-dir DIR]

1. Sweep: N simulations by Latin hypercube, CORES worker processes, of ``--sweep cell`` (default):
   worked problem (b) (DFN cell, 1C discharge + 15-min charge, ``bda_hpc.design.problems.CellFastCharge``)
   over the design space of ``examples/design_fastcharge.toml``; or ``--sweep dendrite``: the phase-field
   Li model over the four-input space of ``examples/design_dendrite_sweep.toml`` (tip height and current
   density after a fixed plated charge). Reported:
   simulations per hour, per core, and the parallel efficiency (sum of the runs' own seconds /
   (wall x CORES)); failed runs are counted, not dropped. The run table is checkpointed in the work
   dir, so a killed benchmark resumes.
2. Surrogates: a deep ensemble per output on a 70/15/15 split of the successful runs: held-out R^2 and
   MAE, the learning curve on the same test set, and the training time of one ensemble.
3. Speed-up: mean seconds of one simulation against one surrogate evaluation (single point, and per
   point in a batch of 1000) -- the simulation it replaces.
4. Worked problems: ``--problems b`` runs examples/design_fastcharge.toml (Bayesian optimisation against
   the best of its initial sample and of a random search with the same budget), ``--problems a`` runs
   examples/design_dendrite.toml (phase-field; against a brute-force sweep), each through the
   ``bda-hpc design`` stage code; the verified optimum's prediction is reported beside its simulation.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# the simulator swept for the surrogate figures: its design space (an example config) and the outputs assessed
SWEEPS = {
    "cell": {"example": "examples/design_fastcharge.toml", "json": "design.json",
             "outputs": ["discharge_capacity", "energy_density", "anode_overpotential_min"],
             "title": "cell_fastcharge (DFN Chen2020, 1C discharge + 15-min charge)"},
    "dendrite": {"example": "examples/design_dendrite_sweep.toml", "json": "design_tipheight.json",
                 "outputs": ["max_dendrite_height", "current_density", "space_utilisation"],
                 "title": "dendrite_threshold (phase-field Li, 24x16 µm, tip height after 1e4 C/m^2)"},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="24 simulations instead of 208 (seconds, not minutes)")
    ap.add_argument("--np", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    ap.add_argument("--json", default=None,
                    help="where to write JSON (default: benchmarks/results/design.json, or design_tipheight.json "
                         "for --sweep dendrite)")
    ap.add_argument("--sweep", choices=sorted(SWEEPS), default="cell", help="which simulator to sweep")
    ap.add_argument("--problems", default="b", help="worked problems to run: 'b', 'a', 'ab' or '' (none)")
    ap.add_argument("--skip-sweep", action="store_true", help="only the worked problems")
    ap.add_argument("--work-dir", default=str(REPO / "out/bench_design"),
                    help="run table checkpoint (resume) and plots")
    args = ap.parse_args(argv)
    args.json = args.json or str(REPO / "benchmarks/results" / SWEEPS[args.sweep]["json"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # loop progress
    suffix = "" if args.sweep == "cell" else "_" + args.sweep  # the cell sweep keeps session 1's work dir
    work = Path(args.work_dir) / (("quick" if args.quick else "full") + suffix)
    work.mkdir(parents=True, exist_ok=True)

    result = {"benchmark": "design", "quick": args.quick, "machine": os.uname().nodename, "cores": os.cpu_count(),
              "note": "shared 2-core machine, other jobs running: timings are noisy"}
    if not args.skip_sweep:
        result.update(sweep_and_surrogates(args, work))
    for letter in args.problems:
        result[f"problem_{letter}"] = worked_problem(letter, args, work)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out}")
    return 0


def sweep_and_surrogates(args, work: Path) -> dict:
    import torch

    from bda_hpc.config import load_section
    from bda_hpc.design import plots
    from bda_hpc.design.assessment import assess_surrogates
    from bda_hpc.design.evaluate import make_evaluator
    from bda_hpc.design.runs import RunTable
    from bda_hpc.design.stage import DesignConfig, build
    from bda_hpc.design.surrogate import EnsembleSurrogate, SurrogateSettings

    torch.set_num_threads(1)
    sweep_def = SWEEPS[args.sweep]
    example = REPO / sweep_def["example"]
    cfg = load_section(example, "design", DesignConfig)
    problem, space = build(cfg, str(example))
    n = 24 if args.quick else 208
    # 1. sweep
    evaluator = make_evaluator(args.np, cfg.run_timeout)
    runs = RunTable(problem, space, evaluator, work / "sweep.h5")
    X = space.sample(n, "lhs", seed=11)
    done_before = len(runs.data)
    start = time.perf_counter()
    try:
        for s in range(done_before, n, 4 * args.np):
            runs.simulate(X[s:s + 4 * args.np], "sweep")
            print(f"  sweep: {len(runs.data)}/{n} simulations, {len(runs.data) - int(runs.data.ok.sum())} failed",
                  flush=True)
    finally:
        evaluator.close()
    wall = time.perf_counter() - start
    data = runs.data
    new = slice(done_before, len(data))
    run_seconds = np.asarray(data.seconds)
    n_new = len(data) - done_before
    sweep = {"simulations": len(data), "failed": int((~data.ok).sum()), "workers": args.np,
             "mean_simulation_s": float(run_seconds[data.ok].mean())}
    timing = work / "sweep_timing.json"  # throughput is kept from the session that ran the simulations
    if n_new:
        sweep.update({"wall_s": wall, "simulations_timed": n_new, "simulations_per_hour": 3600.0 * n_new / wall,
                      "simulations_per_hour_per_core": 3600.0 * n_new / wall / args.np,
                      "parallel_efficiency": float(run_seconds[new].sum() / (wall * args.np)),
                      "load_average": os.getloadavg()})
        timing.write_text(json.dumps(sweep, indent=1))
    elif timing.exists():
        sweep.update({k: v for k, v in json.loads(timing.read_text()).items() if k not in sweep})
    print(f"sweep done: {json.dumps(sweep)}", flush=True)

    # 2. surrogates
    settings = SurrogateSettings(**{**cfg.surrogate.__dict__, "epochs": 1500, "patience": 150})
    outputs = sweep_def["outputs"]
    report = assess_surrogates(data, space, outputs, settings, seed=0, with_learning_curve=True)
    U = space.to_unit(data.X[data.ok])
    y = data.column(outputs[0])[data.ok]
    t0 = time.perf_counter()
    sur = EnsembleSurrogate(settings).fit(U[: int(0.85 * len(y))], y[: int(0.85 * len(y))],
                                          U[int(0.85 * len(y)):], y[int(0.85 * len(y)):])
    train_s = time.perf_counter() - t0

    # 3. surrogate evaluation against the simulation it replaces
    one = U[:1]
    reps = 200
    t0 = time.perf_counter()
    for _ in range(reps):
        sur.predict(one)
    single_s = (time.perf_counter() - t0) / reps
    batch = np.random.default_rng(0).random((1000, space.dim))
    t0 = time.perf_counter()
    sur.predict(batch)
    per_point_batch_s = (time.perf_counter() - t0) / 1000

    stem = Path(args.json).with_suffix("")  # the figures go beside the JSON
    plots.parity(report, problem.outputs, Path(f"{stem}_parity.png"))
    plots.learning_curves(report, Path(f"{stem}_learning_curve.png"))
    result = {
        "problem": sweep_def["title"], "design_space": sweep_def["example"],
        "sweep": sweep,
        "surrogates": {k: {"r2": r["r2"], "mae": r["mae"], "n_train": r["n_train"], "n_test": r["n_test"],
                           "learning_curve": r["learning_curve"], "calibration": r["calibration"],
                           "test_coverage": r["coverage"]} for k, r in report.items()},
        "surrogate_training_s": train_s, "surrogate_epochs": sur.epochs_run,
        "surrogate_members": settings.members, "surrogate_hidden": settings.hidden,
        "surrogate_eval_single_s": single_s, "surrogate_eval_per_point_batch1000_s": per_point_batch_s,
        "speedup_single": sweep["mean_simulation_s"] / single_s,
        "speedup_batch": sweep["mean_simulation_s"] / per_point_batch_s,
    }
    print(f"\n{'quantity':44s} value")
    for key in ("simulations", "failed", "workers", "mean_simulation_s", "simulations_per_hour",
                "simulations_per_hour_per_core", "parallel_efficiency"):
        if key in sweep:
            print(f"{'sweep ' + key:44s} {sweep[key]:.4g}")
    for k, r in report.items():
        print(f"{'test R2 / MAE ' + k:44s} {r['r2']:.4f} / {r['mae']:.4g} {problem.outputs[k]} "
              f"(train {r['n_train']}, test {r['n_test']})")
    for k, r in report.items():
        raw, cal = r["coverage"]["raw"], r["coverage"]["calibrated"]
        print(f"{'coverage 68/95 % raw -> calibrated ' + k:44s} {raw['68']:.2f}/{raw['95']:.2f} -> "
              f"{cal['68']:.2f}/{cal['95']:.2f}")
    print(f"{'ensemble training s (' + str(settings.members) + ' members)':44s} {train_s:.3g}")
    print(f"{'surrogate eval s (1 point / per point of 1000)':44s} {single_s:.3g} / {per_point_batch_s:.3g}")
    print(f"{'speed-up over one simulation (1 / batch)':44s} {result['speedup_single']:.3g} / "
          f"{result['speedup_batch']:.3g}")
    return result


def worked_problem(letter: str, args, work: Path) -> dict:
    """Run a worked problem through the stage code; the figures that check it."""
    from bda_hpc.config import config_text, load_section
    from bda_hpc.design.stage import DesignConfig, run_design

    example = REPO / ("examples/design_fastcharge.toml" if letter == "b" else "examples/design_dendrite.toml")
    cfg = load_section(example, "design", DesignConfig)
    cfg.workers = args.np
    if args.quick:
        cfg.loop.budget, cfg.loop.initial = max(cfg.loop.initial // 2 + 5, 9), cfg.loop.initial // 2
        cfg.learning_curve = False
    start = time.perf_counter()
    out = run_design(cfg, work / f"problem_{letter}", config_text(example), str(example))
    summary, compare = out["summary"], out["compare"]
    verify, answer = summary["verify"], summary["answer"]
    res = {"config": str(example.relative_to(REPO)), "budget": cfg.loop.budget, "initial": cfg.loop.initial,
           "wall_s": time.perf_counter() - start, "failed_runs": int((~out["data"].ok).sum()),
           "comparison": {k: float(v) for k, (v, _) in compare.items()},
           "answer": None if answer is None else {"row": answer["row"], "origin": answer["origin"],
                                                  "point": answer["point"], "simulated": answer["simulated"]},
           "verification": None if verify is None else {
               "point": verify["point"], "feasible": verify["feasible"], "simulated": verify["simulated"],
               "predicted": {k: {"mean": m, "std": s} for k, (m, s) in verify["predicted"].items()}},
           "surrogate_test": {k: {"r2": r["r2"], "mae": r["mae"], "n_test": r["n_test"], "coverage": r["coverage"],
                                  "calibration": r["calibration"]} for k, r in out["report"].items()}}
    if verify:  # how many (calibrated) sigmas the verification run's prediction was off
        res["verification"]["error_in_sigma"] = {
            k: (verify["simulated"][k] - m) / s for k, (m, s) in verify["predicted"].items() if s > 0}
        print(f"  verification error / sigma: {json.dumps(res['verification']['error_in_sigma'])}")
    if out["sweep"]:
        res["brute_force"] = {"best_x": out["sweep"]["best_x"], "resolution": out["sweep"]["resolution"]}
    print(f"\nproblem ({letter}): {json.dumps(res['comparison'])}")
    if answer:
        print(f"  answer (simulated, run {answer['row']}, {answer['origin']}): {answer['point']}")
    return res


if __name__ == "__main__":
    sys.exit(main())
