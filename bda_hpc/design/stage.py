"""``bda-hpc design``: the loop to a budget, the comparisons that check it, ``design.h5`` and the plots.

Outputs in the out dir: ``design.h5`` (stage "design": the verified optimum's variables and simulated
objective as parameters; the run table, surrogate test errors and learning curves, the trace, the
verification run's prediction beside its simulation, the random-search and brute-force comparisons),
``design_checkpoint.h5`` / ``random_checkpoint.h5`` / ``sweep_checkpoint.h5`` (resume after a kill),
and PNGs: ``parity.png``, ``learning_curve.png``, ``trace.png``, ``optimum_curves.png``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..config import from_dict
from ..errors import InputError
from ..io.params import Parameter, write_params
from . import plots
from .assessment import as_results, assess_surrogates
from .evaluate import make_evaluator
from .loop import DesignLoop, LoopSettings, best_so_far
from .problems import problem_class
from .runs import RunTable, random_search
from .space import DesignSpace, Variable
from .surrogate import SurrogateSettings

log = logging.getLogger("bda_hpc.design")


@dataclass
class DesignConfig:
    problem: Literal["cell_fastcharge", "dendrite_threshold", "constrained_quadratic",
                     "threshold_current"] = "cell_fastcharge"
    options: dict = field(default_factory=dict)  # the problem's own settings (see problems.py)
    variables: list[Variable] = field(default_factory=list)
    workers: int = 0  # simulations side by side; 0: one per core
    # "pool": worker processes of this program; "local" / "slurm": every batch is a sweep of the batch
    # driver (bda_hpc.workflow), run here by its local executor or submitted as a SLURM job array
    backend: Literal["pool", "local", "slurm"] = "pool"
    slurm: dict = field(default_factory=dict)  # the driver's [slurm] table for backend "slurm" (partition, ...)
    run_timeout: float = 0.0  # s to wait for one run's result before it counts as failed (0: no limit)
    loop: LoopSettings = field(default_factory=LoopSettings)
    surrogate: SurrogateSettings = field(default_factory=SurrogateSettings)
    random_search: bool = True  # run a random search with the same budget for comparison
    learning_curve: bool = True
    brute_force: int = 0  # one-variable problems: points of a uniform sweep that checks the optimum

    def validate(self) -> list[str]:
        problems = []
        if not self.variables:
            problems.append("variables: give at least one [[design.variables]] table")
        if self.run_timeout < 0:
            problems.append(f"run_timeout: must be >= 0, got {self.run_timeout}")
        if self.workers < 0:
            problems.append(f"workers: must be >= 0, got {self.workers}")
        if self.brute_force and len(self.variables) != 1:
            problems.append(f"brute_force: only for one design variable, got {len(self.variables)}")
        if self.brute_force < 0 or self.brute_force == 1:
            problems.append(f"brute_force: 0 (off) or at least 2 points, got {self.brute_force}")
        return problems


def build(cfg: DesignConfig, source: str):
    """The problem and its design space, checked against what its simulator accepts."""
    problem = from_dict(problem_class(cfg.problem), cfg.options, f"{source}:[design.options]")
    space = DesignSpace(cfg.variables, problem.limits, where=f"{source}:[design.variables]")
    return problem, space


def _trace(problem, data):
    feas = problem.feasible(data.Y, data.output_names)
    return best_so_far(data.column(problem.objective), feas, problem.sense)


def brute_force_sweep(problem, space, evaluator, n: int, checkpoint: Path, progress) -> dict:
    """Uniform 1D sweep: its best feasible point and resolution (the loop's answer must agree)."""
    runs = RunTable(problem, space, evaluator, checkpoint)
    X = space.from_unit(np.linspace(0.0, 1.0, n)[:, None])
    chunk = max(2 * evaluator.workers, 4)
    for start in range(len(runs.data), n, chunk):
        runs.simulate(X[start:start + chunk], "sweep")
        progress(f"brute-force sweep: {len(runs.data)}/{n} simulations")
    trace = _trace(problem, runs.data)
    feas = problem.feasible(runs.data.Y, runs.data.output_names)
    f = runs.data.column(problem.objective)
    best = int(np.flatnonzero(feas)[np.argmax(f[feas] if problem.sense == "max" else -f[feas])]) if feas.any() \
        else None
    return {"data": runs.data, "trace": trace, "best_row": best,
            "resolution": float(X[1, 0] - X[0, 0]), "best_x": None if best is None else float(X[best, 0])}


def run_design(cfg: DesignConfig, out_dir: Path, config_text: str = "", source: str = "<config>") -> dict:
    problem, space = build(cfg, source)
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = cfg.workers or os.cpu_count() or 1
    if cfg.backend == "pool":
        evaluator = make_evaluator(workers, cfg.run_timeout)
    else:
        from .driver import DriverEvaluator

        evaluator = DriverEvaluator(cfg, out_dir / "batches", cfg.backend, workers, cfg.slurm, cfg.run_timeout)
    progress = log.info
    try:
        loop = DesignLoop(problem, space, evaluator, cfg.loop, cfg.surrogate, out_dir / "design_checkpoint.h5")
        summary = loop.run(progress)
        data = loop.data
        traces = {"Bayesian optimisation": _trace(problem, data)}
        initial_best = traces["Bayesian optimisation"][cfg.loop.initial - 1]
        results = {"dataset": data.to_results()}
        compare = {"best_initial_sample": (np.float64(initial_best), problem.outputs[problem.objective])}
        if cfg.random_search:
            rdata = random_search(problem, space, evaluator, cfg.loop.budget, cfg.loop.seed,
                                  out_dir / "random_checkpoint.h5", progress)
            traces["random search"] = _trace(problem, rdata)
            results["random_search"] = rdata.to_results()
            compare["best_random_search"] = (np.float64(traces["random search"][-1]),
                                             problem.outputs[problem.objective])
        sweep = None
        if cfg.brute_force:
            sweep = brute_force_sweep(problem, space, evaluator, cfg.brute_force,
                                      out_dir / "sweep_checkpoint.h5", progress)
            results["brute_force"] = sweep["data"].to_results()
            compare["brute_force_best"] = (np.float64(sweep["trace"][-1]), problem.outputs[problem.objective])
            compare["brute_force_resolution"] = (np.float64(sweep["resolution"]), space.variables[0].units)
        answer = summary["answer"]
        curves = problem.curves(answer["point"]) if answer else {}
    finally:
        evaluator.close()

    # outputs that do not vary beyond round-off (e.g. temperature of an isothermal model) need no surrogate
    varying = [n for n in data.output_names
               if np.std(data.column(n)[data.ok]) > 1e-9 * max(np.abs(data.column(n)[data.ok]).max(), 1e-300)]
    report = assess_surrogates(data, space, varying, cfg.surrogate, seed=cfg.loop.seed,
                               with_learning_curve=cfg.learning_curve) if data.ok.sum() >= 8 else {}
    units = problem.outputs
    results["surrogates"] = as_results(report, units)
    results["trace"] = {k.replace(" ", "_"): (v, units[problem.objective]) for k, v in traces.items()}
    results["comparison"] = compare
    verify = summary["verify"]
    if verify:
        results["verification"] = {
            "point": {v.name: (np.float64(verify["point"][v.name]), v.units) for v in space.variables},
            "simulated": {k: (np.float64(v), units[k]) for k, v in verify["simulated"].items()},
            "predicted_mean": {k: (np.float64(m), units[k]) for k, (m, _) in verify["predicted"].items()},
            "predicted_std": {k: (np.float64(s), units[k]) for k, (_, s) in verify["predicted"].items()},
            "status": verify["status"], "feasible": np.bool_(verify["feasible"])}
    if curves:
        results["optimum_curves"] = {k: (np.asarray(v), u) for k, (v, u) in curves.items()}
    parameters = {}
    if answer:
        for v in space.variables:
            parameters[v.name] = Parameter(float(answer["point"][v.name]), v.units,
                                           f"design variable of the best simulated feasible run (row {answer['row']})",
                                           "Bayesian optimisation over deep-ensemble surrogates; value re-simulated")
        parameters[problem.objective] = Parameter(float(answer["simulated"][problem.objective]),
                                                  units[problem.objective], "objective, simulated (not predicted)",
                                                  f"simulation of run {answer['row']} ({answer['origin']})")
    path = write_params(out_dir / "design.h5", "design", parameters, results=results, config=config_text)
    pngs = [plots.trace(traces, problem.objective, units[problem.objective], cfg.loop.initial, out_dir / "trace.png")]
    if report:
        pngs += [plots.parity(report, units, out_dir / "parity.png")]
        if cfg.learning_curve:
            pngs.append(plots.learning_curves(report, out_dir / "learning_curve.png"))
    if curves:
        pngs.append(plots.curves(curves, out_dir / "optimum_curves.png"))
    _log_summary(problem, verify, answer, compare, report)
    return {"path": path, "summary": summary, "compare": compare, "report": report, "sweep": sweep,
            "pngs": pngs, "data": data}


def simulate_one(cfg: DesignConfig, point: dict, out_dir: Path, config_text: str = "",
                 source: str = "<config>") -> Path:
    """One simulation of the configured problem at ``point`` (checked against the design space first);
    writes ``design_run.h5`` with the outputs as parameters. A failed simulation raises."""
    problem, space = build(cfg, source)
    missing = [n for n in space.names if n not in point]
    unknown = [n for n in point if n not in space.names]
    if missing or unknown:
        raise InputError(f"{source}: design point needs exactly the variables {', '.join(space.names)}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    x = np.array([[float(point[n]) for n in space.names]])
    space.check(x, where="design point")
    outputs = problem.simulate(space.as_dicts(x)[0])
    parameters = {name: Parameter(float(outputs[name]), units, "simulated output at the design point",
                                  f"{cfg.problem} simulation") for name, units in problem.outputs.items()}
    point_tree = {v.name: (np.float64(x[0, j]), v.units) for j, v in enumerate(space.variables)}
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_params(out_dir / "design_run.h5", "design", parameters, results={"point": point_tree},
                        config=config_text)


def _log_summary(problem, verify, answer, compare, report):
    if verify:
        log.info("surrogate optimum re-simulated (%s): %s", verify["status"],
                 ", ".join(f"{k} = {v:.6g}" for k, v in verify["point"].items()))
        for k, (m, s) in verify["predicted"].items():
            log.info("  %-28s predicted %.6g ± %.2g   simulated %.6g", k, m, s, verify["simulated"][k])
    if answer:
        log.info("answer (best simulated feasible run %d, %s): %s = %.6g", answer["row"], answer["origin"],
                 problem.objective, answer["simulated"][problem.objective])
    else:
        log.warning("no feasible run found: there is no answer")
    for k, (v, u) in compare.items():
        log.info("  %-28s %.6g %s", k, v, u)
    for k, r in report.items():
        log.info("  surrogate %-24s test R² = %.4f  MAE = %.4g (n_train %d, n_test %d); 68/95 %% intervals "
                 "cover %.2f/%.2f of the test runs (raw spread: %.2f/%.2f)", k, r["r2"], r["mae"], r["n_train"],
                 r["n_test"], *r["coverage"]["calibrated"].values(), *r["coverage"]["raw"].values())
