"""The ``lifetime`` stage: configuration, the run that writes ``lifetime.h5``, plots, JSON, saved models."""
from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from .. import __version__
from ..errors import ConfigError, InputError
from ..io.params import Parameter, write_params
from .cyclelife import CycleLifeConfig, evaluate, fit_cycle_life, format_table
from .data import SEVERSON_SPLITS, read_severson_split, read_sunwoda
from .protocol import SelectionConfig
from .quality import check_cells
from .trajectory import METRICS, TrajectoryConfig, cross_validate, format_summary
from .warning import WarningConfig, capacity_drop_rule, format_warnings, run_warnings, subsample_spread

log = logging.getLogger("bda_hpc.lifetime")
REPO = Path(__file__).resolve().parents[2]
MODEL_FILE = "lifetime_model.pkl"


@dataclass
class LifetimeConfig:
    task: Literal["cycle_life", "trajectory"] = "cycle_life"
    data_dir: str = "../shared/data/ageing/severson_attia"   # relative: to the working directory, else the repo
    seed: int = 0
    model: str = ""          # run only this named model (one case of a sweep); "" runs all
    cv_only: bool = False    # cycle life: score on train only (a sweep case); never reads test1/test2
    params: dict = field(default_factory=dict)   # fixed hyper-parameters for ``model`` (replace its grid)
    feature_cache: str = ""  # cycle life: directory of cached training features (sweep cases share it); "" = off
    cycle_life: CycleLifeConfig = field(default_factory=CycleLifeConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)   # cycle life: the train-only protocol
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    warning: WarningConfig = field(default_factory=WarningConfig)

    def validate(self) -> list[str]:
        if self.params and not self.model:
            return ["params: needs model = NAME (which model the hyper-parameters belong to)"]
        return []


def load_config(path: str | None, overrides: list[str] = ()) -> LifetimeConfig:
    """The [lifetime] table of ``path`` with ``--set lifetime.KEY=VALUE`` overrides applied."""
    from ..workflow.overrides import load_section_with_set

    cfg = load_section_with_set(path, "lifetime", LifetimeConfig, list(overrides))
    if cfg.model and cfg.task == "cycle_life":
        specs = {m.name: m for m in cfg.cycle_life.models}
        if cfg.model not in specs:
            raise ConfigError(f"{path}:[lifetime].model: {cfg.model!r} is not one of the configured models "
                              f"({', '.join(specs)})")
        spec = dataclasses.replace(specs[cfg.model], params={**specs[cfg.model].params, **cfg.params},
                                   grid={k: v for k, v in specs[cfg.model].grid.items() if k not in cfg.params})
        cfg.cycle_life.models = [spec]
    return cfg


def resolve_data_dir(text: str) -> Path:
    path = Path(text)
    if path.is_absolute() or path.exists():
        return path
    return REPO / path


def run_stage(cfg: LifetimeConfig, out_dir: Path, config_text: str, comm) -> dict:
    """Run the configured task; returns the JSON summary (also written into lifetime.h5 on rank 0)."""
    data_dir = resolve_data_dir(cfg.data_dir)
    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if cfg.task == "cycle_life" and cfg.cv_only:
        summary, results, params, model = _cv_only(cfg, data_dir)
    elif cfg.task == "cycle_life":
        summary, results, params, model = _cycle_life(cfg, data_dir, out_dir, comm)
    else:
        summary, results, params, model = _trajectory(cfg, data_dir, out_dir, comm)
    summary["wall_time_s"] = time.perf_counter() - start
    summary["seed"] = cfg.seed
    write_params(out_dir / "lifetime.h5", "lifetime", params, results=results, config=config_text, comm=comm)
    if comm.rank == 0 and model is not None:
        with open(out_dir / MODEL_FILE, "wb") as fh:
            pickle.dump(model, fh)
    return summary


def _quality(cells) -> dict:
    reports = check_cells(cells)
    for r in reports:
        if not r.ok:
            log.info("quality: %s", r.summary())
    return {"cell_id": _strings([r.cell_id for r in reports]), "ok": np.array([r.ok for r in reports]),
            "summary": _strings([r.summary() for r in reports])}


def _strings(items) -> np.ndarray:
    """Fixed-length UTF-8 bytes: what h5py stores for a list of names."""
    return np.array([str(i).encode() for i in items])


def _cv_score(cfg: LifetimeConfig, best) -> Parameter:
    return Parameter(best.cv_rmse, "1", f"{cfg.cycle_life.cv_folds}-fold CV RMSE over training cells (cycles); "
                     "select by this", f"{best.spec.name} {best.params}, seed {cfg.seed}", uncertainty=best.cv_rmse_std)


def _cv_only(cfg: LifetimeConfig, data_dir: Path):
    """One sweep case: the CV score on train of the (single) configured model; test cells are never read."""
    if len(cfg.cycle_life.models) != 1:
        raise ConfigError("[lifetime] cv_only = true scores one model: set model = NAME")
    best = fit_cycle_life(cfg.cycle_life, data_dir, cfg.seed, feature_cache=cfg.feature_cache)[-1]   # model last
    summary = {"task": "cycle_life", "model": best.spec.name, "params": best.params, "cv_rmse": best.cv_rmse,
               "cv_rmse_std": best.cv_rmse_std, "cv_folds": cfg.cycle_life.cv_folds}
    return (summary, {"summary_json": json.dumps(summary, default=_jsonable)},
            {"cycle_life_cv_rmse": _cv_score(cfg, best)}, None)


def _cycle_life(cfg: LifetimeConfig, data_dir: Path, out_dir: Path, comm):
    from . import plots
    from .features import column_names
    from .models import importances

    fitted = fit_cycle_life(cfg.cycle_life, data_dir, cfg.seed, comm, cfg.feature_cache)   # reads train only
    table = evaluate(fitted, cfg.cycle_life, data_dir)
    log.info("cycle life (RMSE in cycles, MAPE in %%):\n%s", format_table(table))
    best = next(fm for fm in fitted if fm.spec.name == table["best"])
    row = table["models"][best.spec.name]
    summary = {"task": "cycle_life", "best_model": best.spec.name,
               "rmse_cycles": row["rmse_cycles"], "mape_percent": row["mape_percent"],
               "models": {name: {k: v for k, v in r.items()} for name, r in table["models"].items()},
               "cv_folds": cfg.cycle_life.cv_folds}
    if cfg.cycle_life.published and not cfg.model:      # sweep cases score their own model only
        summary["published"] = _published(cfg, data_dir)
    quality = {s: _quality(read_severson_split(data_dir, s)) for s in SEVERSON_SPLITS}
    results = {"cycle_life": {
        split: {"cell_id": _strings(block["cell_id"]), "observed": (block["observed"], "1"),
                **{f"predicted_{name}": (pred, "1") for name, pred in block["predicted"].items()}}
        for split, block in table["cells"].items()},
        "quality": quality,
        "summary_json": json.dumps(summary, default=_jsonable)}
    params = {f"cycle_life_rmse_{s}": Parameter(row["rmse_cycles"][s], "1", f"RMSE of predicted cycle life on {s} "
                                                "(cycles)", f"{best.spec.name}, fitted on train, seed {cfg.seed}")
              for s in SEVERSON_SPLITS}
    params.update({f"cycle_life_mape_{s}": Parameter(row["mape_percent"][s], "percent", f"MAPE on {s}",
                                                     best.spec.name) for s in SEVERSON_SPLITS})
    params["cycle_life_cv_rmse"] = _cv_score(cfg, best)
    if comm.rank == 0:
        shown = [best.spec.name] + [n for n in table["models"] if n.startswith("baseline")]
        plots.parity(table, shown, out_dir / "cycle_life_parity.png")
        imp = importances(best.estimator, len(best.spec.features) + best.spec.curve_points)
        if imp is not None:
            plots.importance(column_names(best.spec.features, best.spec.curve_points), imp,
                             f"feature importance: {best.spec.name}", out_dir / "cycle_life_importance.png")
    model = {"task": "cycle_life", "name": best.spec.name, "estimator": best.estimator,
             "features": best.spec.features, "curve_points": best.spec.curve_points,
             "early_cycle": cfg.cycle_life.early_cycle, "late_cycle": cfg.cycle_life.late_cycle,
             "voltage_grid": read_severson_split(data_dir, "train")[0].qv_voltage, "seed": cfg.seed,
             "code_version": __version__}
    if cfg.selection.enabled and not cfg.model:     # a sweep case (model = NAME) only scores its own CV
        summary, results, params, model = _with_selection(cfg, data_dir, out_dir, comm, summary, results, params)
    return summary, results, params, model


def _published(cfg: LifetimeConfig, data_dir: Path) -> dict:
    """Severson et al.'s fixed models (published.py), fitted on train, reported beside the others."""
    from .published import PUBLISHED_PROTOCOL, evaluate_published, fit_published

    rows = {}
    for name in cfg.cycle_life.published:
        rows[name] = evaluate_published(fit_published(name, data_dir, PUBLISHED_PROTOCOL[name], cfg.seed),
                                        data_dir).as_dict()
        log.info("published %s model (Severson et al. 2019), seed %d: RMSE %s cycles; paper %s", name, cfg.seed,
                 {k: round(v) for k, v in rows[name]["rmse_cycles"].items()}, rows[name]["paper_rmse_cycles"])
    return rows


def _with_selection(cfg: LifetimeConfig, data_dir: Path, out_dir: Path, comm, summary, results, params):
    """Run the train-only selection protocol; its frozen choice becomes the headline figure and the saved model."""
    from . import plots
    from .protocol import FEATURE_SETS, evaluate_selection, format_selection, select

    sel = select(cfg.selection, data_dir, cfg.seed, comm)          # reads train only
    result = evaluate_selection(sel, data_dir)                     # test1/test2 read once, here
    log.info("%s", format_selection(result))
    chosen = result["rows"]["chosen"]
    summary = {**summary, "best_model": f"selection: {chosen['candidate']}",
               **{k: {s: chosen[k][s] for s in SEVERSON_SPLITS} for k in ("rmse_cycles", "mape_percent")},
               "selection": {k: v for k, v in result.items() if k not in ("predictions", "observed")},
               "selection_table": sel.table}
    results = {**results, "selection": {
        split: {"observed": (result["observed"][split], "1"),
                **{f"predicted_{label}": (p[split], "1") for label, p in result["predictions"].items()}}
        for split in SEVERSON_SPLITS}, "summary_json": json.dumps(summary, default=_jsonable)}
    for s in SEVERSON_SPLITS:
        provenance = f"selection protocol: {chosen['candidate']}, seed {cfg.seed}"
        params[f"cycle_life_rmse_{s}"] = Parameter(chosen["rmse_cycles"][s], "1",
                                                   f"RMSE of predicted cycle life on {s} (cycles)", provenance)
        params[f"cycle_life_mape_{s}"] = Parameter(chosen["mape_percent"][s], "percent", f"MAPE on {s}",
                                                   chosen["candidate"])
    if comm.rank == 0:
        shown = ["chosen", "baseline_log_var_dq", "baseline_mean"]
        table = {"models": {k: result["rows"][k] for k in shown}, "cells": {
            s: {"observed": result["observed"][s], "predicted": {k: result["predictions"][k][s] for k in shown}}
            for s in SEVERSON_SPLITS}}
        plots.parity(table, shown, out_dir / "cycle_life_selection_parity.png")
    names, curve = FEATURE_SETS[sel.chosen.feature_set]
    model = {"task": "cycle_life", "name": sel.chosen.name, "estimator": sel.estimators[sel.chosen.name],
             "features": list(names), "curve_points": curve, "early_cycle": 10, "late_cycle": 100,
             "voltage_grid": read_severson_split(data_dir, "train")[0].qv_voltage, "seed": cfg.seed,
             "code_version": __version__}
    return summary, results, params, model


def _trajectory(cfg: LifetimeConfig, data_dir: Path, out_dir: Path, comm):
    from statistics import NormalDist

    from . import plots

    cells = read_sunwoda(data_dir)
    quality = _quality(cells)
    cv = cross_validate(cells, cfg.trajectory, cfg.seed, comm)
    log.info("trajectory forecasting:\n%s", format_summary(cv))
    warn = run_warnings(cells, cfg.warning)
    log.info("%s", format_warnings(cells, warn, cfg.warning))
    summary = {"task": "trajectory", "rul_mae_cycles": {}, "trajectory_rmse_ah": {}, "band_coverage": {},
               "physics_gain_percent": {}, "ensemble_seeds": list(range(cfg.seed, cfg.seed + cfg.trajectory.ensemble)),
               "early_warning": {k: warn[k] for k in ("detected_fraction", "median_lead_cycles", "false_alarm_rate")}}
    summary["early_warning"]["lead_cycles"] = {c.cell_id: lead for c, lead, s in
                                               zip(cells, warn["lead_cycles"], warn["short_lived"]) if s}
    summary["early_warning"].update(_warning_spread(cells, cfg.warning, cfg.seed))
    results = {"quality": quality, "warning": {
        "cell_id": _strings([c.cell_id for c in cells]), "flag_cycle": (np.array([np.nan if f is None else f
                                                                         for f in warn["flag_cycle"]]), "1"),
        "short_lived": warn["short_lived"], "checks": (warn["checks"], "1")}}
    z = NormalDist().inv_cdf(0.5 + cfg.trajectory.band_quantile / 2)
    for n_early, block in cv.items():
        key = f"N{n_early}"
        for metric in METRICS:
            summary.setdefault(metric, {})[key] = {m: {k: list(v[metric]) for k, v in kinds.items() if metric in v}
                                                   for m, kinds in block["summary"].items()}
        if {"plain", "physics"} <= set(block["summary"]):
            summary["physics_gain_percent"][key] = {
                cvk: {metric: 100.0 * (1 - block["summary"]["physics"][cvk][metric][0]
                                       / block["summary"]["plain"][cvk][metric][0])
                      for metric in ("rul_mae_cycles", "trajectory_rmse_ah")}
                for cvk in block["summary"]["plain"]}
        results[f"trajectory_{key}"] = {name.replace("/", "_"): {
            "cell_id": _strings([block["data"].cell_ids[i] for i in held]),
            **{f"{m}_mean": (r["mean"], "A*h") for m, r in res.items()},
            **{f"{m}_std": (r["std"], "A*h") for m, r in res.items()}} for name, held, res in block["folds"]}
        if comm.rank == 0:
            models = [m for m in ("plain", "physics", "baseline_fleet_mean") if m in block["summary"]]
            for fold in ("within/0", f"across/T{np.unique(block['data'].temperature)[-1]:g}"):
                if any(f[0] == fold for f in block["folds"]):
                    plots.forecasts(block, models, fold, out_dir / f"forecast_{key}_{fold.replace('/', '_')}.png", z)
    results["summary_json"] = json.dumps(summary, default=_jsonable)
    if comm.rank == 0:
        plots.warnings_timeline([c.cell_id for c in cells], [c.cycle_life for c in cells], warn,
                                out_dir / "early_warning.png")
    params = {}
    for key, per in summary["rul_mae_cycles"].items():
        if "physics" in per and "within" in per["physics"]:
            params[f"rul_mae_{key}"] = Parameter(per["physics"]["within"][0], "1",
                                                 f"RUL MAE (cycles), physics-informed, leave-cells-out CV, {key}",
                                                 "ensemble of DropNet(physics)", per["physics"]["within"][1])
    return summary, results, params, None


def _warning_spread(cells, cfg: WarningConfig, seed: int) -> dict:
    """Spread of the warning figures over random fleet subsets, and the fleet-free baseline beside them."""
    seeds = list(range(seed, seed + cfg.spread_seeds))
    base = capacity_drop_rule(cells, cfg, cfg.baseline_drop)
    out = {"spread_over_subsets": subsample_spread(cells, cfg, lambda cs: run_warnings(cs, cfg), seeds),
           f"baseline_capacity_drop_{100 * cfg.baseline_drop:g}pct": {
               **{k: base[k] for k in ("detected_fraction", "median_lead_cycles", "false_alarm_rate")},
               "spread_over_subsets": subsample_spread(
                   cells, cfg, lambda cs: capacity_drop_rule(cs, cfg, cfg.baseline_drop), seeds)}}
    log.info("early warning over %d random 75 %% fleet subsets (mean ± std): fleet z-score %s; baseline "
             "(%.0f %% capacity drop) %s", len(seeds), _fmt_spread(out["spread_over_subsets"]), 100 * cfg.baseline_drop,
             _fmt_spread(out[f"baseline_capacity_drop_{100 * cfg.baseline_drop:g}pct"]["spread_over_subsets"]))
    return out


def _fmt_spread(s: dict) -> str:
    return (f"detected {s['detected_fraction'][0]:.2f} ± {s['detected_fraction'][1]:.2f}, median lead "
            f"{s['median_lead_cycles'][0]:.0f} ± {s['median_lead_cycles'][1]:.0f} cycles, false alarms "
            f"{s['false_alarm_rate'][0]:.2f} ± {s['false_alarm_rate'][1]:.2f}")


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: str | Path, summary: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=_jsonable))
    tmp.replace(path)


def load_model(path: str | Path) -> dict:
    """A model saved by the stage (a pickle: load only files you trust)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    try:
        with open(path, "rb") as fh:
            model = pickle.load(fh)
    except Exception as exc:  # pickle raises many unrelated types
        raise InputError(f"{path}: not a bda_hpc lifetime model ({exc})") from None
    if not isinstance(model, dict) or model.get("task") != "cycle_life":
        raise InputError(f"{path}: not a bda_hpc cycle-life model")
    return model


def predict_cells(model: dict, cells) -> list[dict]:
    """Cycle-life predictions for user cells, after checking each has what the model needs."""
    from .cycler import require_cycles, require_voltage_grid
    from .features import feature_matrix, required_cycles

    first = 2
    for cell in cells:
        require_cycles(cell, max(first, int(np.min(cell.cycle))), model["late_cycle"], f"model {model['name']!r}")
        require_voltage_grid(cell, np.asarray(model["voltage_grid"]))
        for c in required_cycles(model["early_cycle"], model["late_cycle"]):
            cell.curve(c)
    X = feature_matrix(cells, model["features"], model["early_cycle"], model["late_cycle"], model["curve_points"])
    pred = np.asarray(model["estimator"].predict(X), dtype=float).ravel()
    return [{"cell": c.cell_id, "predicted_cycle_life": float(p),
             "observed_cycle_life": c.cycle_life} for c, p in zip(cells, pred)]
