"""Early cycle-life prediction on the 124 LFP cells (Severson et al. 2019 task).

Fitting and hyper-parameter selection read the ``train`` split only
(:func:`fit_cycle_life`); ``test1`` and ``test2`` are read afterwards by
:func:`evaluate`, once every model is frozen. Hyper-parameters are chosen by
k-fold cross-validation over training cells (each cell is one row, so folds
split by cell). Two baselines are always fitted beside the models: the
training-set mean and a linear model on log10 var(ΔQ100−10(V)).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import read_severson_split
from .feature_cache import split_features
from .features import feature_matrix
from .models import build_model, model_params, predict
from .search import expand_grid, map_over_ranks

log = logging.getLogger("bda_hpc.lifetime")

DEFAULT_FEATURES = ["log_var_dq", "log_min_dq", "log_skew_dq", "log_kurt_dq", "q_first", "q_max_minus_first"]
BASELINES = [
    {"name": "baseline_mean", "kind": "mean", "features": ["log_var_dq"]},
    {"name": "baseline_log_var_dq", "kind": "linear", "features": ["log_var_dq"]},
]


@dataclass
class ModelSpec:
    name: str
    kind: str
    features: list[str] = field(default_factory=lambda: list(DEFAULT_FEATURES))
    curve_points: int = 0                                   # samples of the ΔQ(V) curve added as inputs
    params: dict = field(default_factory=dict)              # fixed hyper-parameters
    grid: dict = field(default_factory=dict)                # lists of values searched by cross-validation

    def validate(self) -> list[str]:
        problems = []
        if self.curve_points < 0:
            problems.append(f"curve_points: must be >= 0, got {self.curve_points}")
        overlap = sorted(set(self.params) & set(self.grid))
        if overlap:
            problems.append(f"params/grid: {', '.join(overlap)} given in both")
        return problems


@dataclass
class CycleLifeConfig:
    early_cycle: int = 10
    late_cycle: int = 100
    cv_folds: int = 5
    clip_to_training_range: bool = False  # predictions limited to [min, max] of training lives
    published: list[str] = field(default_factory=list)   # Severson et al.'s fixed models reported beside (published.py)
    models: list[ModelSpec] = field(default_factory=lambda: [ModelSpec("elastic_net", "elastic_net")])

    def validate(self) -> list[str]:
        problems = []
        if not 2 <= self.early_cycle < self.late_cycle <= 100:
            problems.append(f"early_cycle/late_cycle: need 2 <= early < late <= 100, got "
                            f"{self.early_cycle}/{self.late_cycle}")
        if self.cv_folds < 2:
            problems.append(f"cv_folds: must be >= 2, got {self.cv_folds}")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            problems.append(f"models: names must be unique, got {names}")
        from .published import PUBLISHED_FEATURES

        for name in self.published:
            if name not in PUBLISHED_FEATURES:
                problems.append(f"published: {name!r} is not one of {', '.join(PUBLISHED_FEATURES)}"
                                + (" (the full model needs resistance, temperature and charge time, absent from "
                                   "the Severson/Attia export)" if name == "full" else ""))
        return problems


@dataclass
class FittedModel:
    spec: ModelSpec
    params: dict
    seed: int
    estimator: object
    cv_rmse: float          # cycles, mean over folds
    cv_rmse_std: float      # spread over folds
    candidates: list[dict]  # every searched parameter set with its CV score


def rmse(pred, y) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(y)) ** 2)))


def mape(pred, y) -> float:
    y = np.asarray(y, dtype=float)
    return float(100.0 * np.mean(np.abs(np.asarray(pred) - y) / y))


def published_test1_mask(lives) -> np.ndarray:
    """The cells of Severson et al.'s parenthesised primary-test RMSE: test1 without its 148-cycle cell
    (the shortest-lived), as in Attia et al.'s reproduction."""
    lives = np.asarray(lives)
    return lives != lives.min()


def fold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def cross_validate(kind: str, params: dict, X: np.ndarray, y: np.ndarray, folds: int, seed: int,
                   clip: bool = False) -> np.ndarray:
    """RMSE (cycles) of each held-out fold of training cells."""
    scores = []
    for held in fold_indices(len(y), folds, seed):
        keep = np.setdiff1d(np.arange(len(y)), held)
        model = build_model(kind, params, seed, clip).fit(X[keep], y[keep])
        scores.append(rmse(predict(model, X[held]), y[held]))
    return np.asarray(scores)


def spec_matrix(cells, spec: ModelSpec, cfg: CycleLifeConfig) -> np.ndarray:
    return feature_matrix(cells, spec.features, cfg.early_cycle, cfg.late_cycle, spec.curve_points)


def all_specs(cfg: CycleLifeConfig) -> list[ModelSpec]:
    return [ModelSpec(**b) for b in BASELINES] + list(cfg.models)


def _clips(spec: ModelSpec, cfg: CycleLifeConfig) -> bool:
    """Models are clipped to the training range when configured; baselines never (they stay as published)."""
    return cfg.clip_to_training_range and not spec.name.startswith("baseline")


def fit_cycle_life(cfg: CycleLifeConfig, data_dir: str | Path, seed: int = 0, comm=None,
                   feature_cache: str | Path | None = None) -> list[FittedModel]:
    """Select each model's hyper-parameters by CV on train, then refit on all of train. Reads train only
    (through ``feature_cache``, a directory, when given: see :mod:`feature_cache`)."""
    specs = all_specs(cfg)
    matrices = {}
    for s in specs:
        matrices[s.name], y = split_features(data_dir, "train", s.features, cfg.early_cycle, cfg.late_cycle,
                                             s.curve_points, feature_cache)
    jobs = [(s, model_params(s.kind, {**s.params, **cand})) for s in specs for cand in expand_grid(s.grid)]
    log.info("cycle life: %d training cells, %d candidate models, %d-fold CV", len(y), len(jobs), cfg.cv_folds)
    scores = map_over_ranks(comm, jobs, lambda job: cross_validate(job[0].kind, job[1], matrices[job[0].name], y,
                                                                    cfg.cv_folds, seed, _clips(job[0], cfg)))
    fitted = []
    for spec in specs:
        mine = [(p, sc) for (s, p), sc in zip(jobs, scores) if s.name == spec.name]
        best_params, best_scores = min(mine, key=lambda item: item[1].mean())
        estimator = build_model(spec.kind, best_params, seed, _clips(spec, cfg)).fit(matrices[spec.name], y)
        fitted.append(FittedModel(
            spec=spec, params=best_params, seed=seed, estimator=estimator,
            cv_rmse=float(best_scores.mean()), cv_rmse_std=float(best_scores.std()),
            candidates=[{"params": p, "cv_rmse": float(sc.mean()), "cv_rmse_std": float(sc.std())} for p, sc in mine]))
        log.info("  %-22s cv RMSE %6.1f ± %5.1f cycles  %s", spec.name, fitted[-1].cv_rmse, fitted[-1].cv_rmse_std,
                 best_params)
    return fitted


def evaluate(fitted: list[FittedModel], cfg: CycleLifeConfig, data_dir: str | Path) -> dict:
    """RMSE and MAPE of every fitted model on train, test1 and test2 (read here, after fitting)."""
    table = {"models": {}, "cells": {}}
    for split in ("train", "test1", "test2"):
        cells = read_severson_split(data_dir, split)
        y = np.array([c.cycle_life for c in cells])
        table["cells"][split] = {"cell_id": [c.cell_id for c in cells], "observed": y, "predicted": {}}
        for fm in fitted:
            pred = predict(fm.estimator, spec_matrix(cells, fm.spec, cfg))
            row = table["models"].setdefault(fm.spec.name, {
                "kind": fm.spec.kind, "params": fm.params, "seed": fm.seed, "cv_rmse": fm.cv_rmse,
                "cv_rmse_std": fm.cv_rmse_std, "rmse_cycles": {}, "mape_percent": {}})
            row["rmse_cycles"][split] = rmse(pred, y)
            row["mape_percent"][split] = mape(pred, y)
            table["cells"][split]["predicted"][fm.spec.name] = pred
    models_only = [fm for fm in fitted if not fm.spec.name.startswith("baseline")] or fitted
    table["best"] = min(models_only, key=lambda fm: fm.cv_rmse).spec.name
    return table


def format_table(table: dict) -> str:
    splits = ("train", "test1", "test2")
    lines = [f"{'model':24s} {'cv RMSE (train folds)':>22s}  " + "  ".join(f"{s:>16s}" for s in splits),
             f"{'':24s} {'cycles':>22s}  " + "  ".join(f"{'RMSE / MAPE %':>16s}" for _ in splits)]
    for name, row in table["models"].items():
        mark = " *" if name == table["best"] else ""
        cells = "  ".join(f"{row['rmse_cycles'][s]:8.0f} / {row['mape_percent'][s]:5.1f}" for s in splits)
        lines.append(f"{name + mark:24s} {row['cv_rmse']:13.0f} ± {row['cv_rmse_std']:5.0f}  {cells}"
                     f"   seed {row['seed']}")
    lines.append("* best by cross-validation on train (chosen before the test splits are read)")
    return "\n".join(lines)
