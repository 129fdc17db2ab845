"""How far each test split lies from the training cells, and where a fitted model's test error comes from.

Post-hoc diagnosis only (it reads the test splits): the shift of every feature in units of the training
standard deviation with a two-sample Kolmogorov-Smirnov test, the Mahalanobis distance of each cell from
the training cloud, the cycle-life quartiles, and the model's bias and worst cells per split.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from .cyclelife import rmse
from .data import read_severson_split
from .features import feature_matrix

SPLITS = ("train", "test1", "test2")


def split_matrices(data_dir: str | Path, names: list[str]) -> tuple[dict, dict]:
    cells = {s: read_severson_split(data_dir, s) for s in SPLITS}
    return ({s: feature_matrix(c, names) for s, c in cells.items()},
            {s: np.array([cell.cycle_life for cell in c]) for s, c in cells.items()})


def mahalanobis(X: dict) -> dict:
    """Distance of every cell from the training mean, in the training covariance's metric."""
    mean, cov = X["train"].mean(axis=0), np.cov(X["train"].T)
    inv = np.linalg.pinv(np.atleast_2d(cov))
    return {s: np.sqrt(np.einsum("ij,jk,ik->i", X[s] - mean, inv, X[s] - mean)) for s in X}


def covariate_shift(X: dict, y: dict, names: list[str], predictions: dict, worst: int = 3) -> dict:
    """Feature shifts of test1/test2 against train, and the error anatomy of ``predictions`` (cycles)."""
    mean, std = X["train"].mean(axis=0), X["train"].std(axis=0)
    features = {}
    for j, name in enumerate(names):
        features[name] = {}
        for s in ("test1", "test2"):
            ks = stats.ks_2samp(X["train"][:, j], X[s][:, j])
            features[name][s] = {"shift_train_sd": float((X[s][:, j].mean() - mean[j]) / std[j]),
                                 "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue)}
    distance = mahalanobis(X)
    errors = {}
    for s in SPLITS:
        residual = predictions[s] - y[s]
        closeness = stats.spearmanr(np.abs(residual), distance[s]).correlation
        order = np.argsort(-np.abs(residual))
        rest = order[worst:]
        errors[s] = {"bias": float(residual.mean()), "rmse": rmse(predictions[s], y[s]),
                     f"rmse_without_worst_{worst}": rmse(predictions[s][rest], y[s][rest]),
                     "worst_cells": [{"cell": f"{s}/cell{i + 1}", "observed": float(y[s][i]),
                                      "predicted": float(predictions[s][i])} for i in order[:worst]],
                     "abs_error_vs_distance_spearman": float(closeness)}
    return {"features": features, "errors": errors,
            "mahalanobis_median": {s: float(np.median(d)) for s, d in distance.items()},
            "life_quartiles": {s: np.percentile(y[s], [0, 25, 50, 75, 100]).tolist() for s in SPLITS}}
