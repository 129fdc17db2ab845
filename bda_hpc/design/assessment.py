"""Held-out test errors (R^2, MAE), parity data and learning curves of the surrogates on a dataset."""
from __future__ import annotations

import numpy as np

from .dataset import Dataset
from .space import DesignSpace
from .surrogate import EnsembleSurrogate, SurrogateSettings, learning_curve, mae, r2_score, split_indices


def learning_sizes(n: int) -> list[int]:
    """Doubling training-set sizes up to everything the 85 % non-test part holds."""
    top = int(0.85 * n)
    sizes = [s for s in (8, 16, 32, 64, 128, 256, 512) if s < top]
    return sizes + [top]


NOMINAL = {"68": 1.0, "95": 1.959964}  # central normal intervals: nominal level (%) -> half-width in sigma


def coverage(y_true, mean, sigma) -> dict[str, float]:
    """Fraction of held-out runs inside mean +- z sigma for each nominal level (calibrated: ~0.68, ~0.95)."""
    r = np.abs(np.asarray(y_true, float) - np.asarray(mean, float))
    return {level: float(np.mean(r <= z * np.asarray(sigma, float))) for level, z in NOMINAL.items()}


def assess_surrogates(data: Dataset, space: DesignSpace, outputs: list[str], settings: SurrogateSettings,
                      seed: int = 0, with_learning_curve: bool = True) -> dict:
    """Per output: test R^2 / MAE with a 70/15/15 split of the successful runs, the test parity data
    (simulated vs predicted mean and spread) and, optionally, the learning curve on the same test set."""
    ok = data.ok
    U = space.to_unit(data.X[ok])
    train, val, test = split_indices(int(ok.sum()), seed=seed)
    report = {}
    for name in outputs:
        y = data.column(name)[ok]
        sur = EnsembleSurrogate(settings).fit(U[train], y[train], U[val], y[val])  # calibrated on val
        mean, std = sur.predict(U[test])
        spread = sur.predict(U[test], raw=True)[1]
        report[name] = {"r2": r2_score(y[test], mean), "mae": mae(y[test], mean), "n_train": len(train),
                        "n_test": len(test), "test_true": y[test], "test_mean": mean, "test_std": std,
                        "calibration": sur.calibration,
                        "coverage": {"raw": coverage(y[test], mean, spread),
                                     "calibrated": coverage(y[test], mean, std)}}
        if with_learning_curve:
            report[name]["learning_curve"] = learning_curve(U, y, settings, learning_sizes(len(y)), seed=seed)
    return report


def as_results(report: dict, units: dict) -> dict:
    """The report as a ``/results/surrogates`` tree (units on the error and parity datasets)."""
    tree = {}
    for name, r in report.items():
        u = units.get(name, "")
        node = {"r2": (np.float64(r["r2"]), ""), "mae": (np.float64(r["mae"]), u),
                "n_train": np.int64(r["n_train"]), "n_test": np.int64(r["n_test"]),
                "parity": {"simulated": (r["test_true"], u), "predicted": (r["test_mean"], u),
                           "predicted_std": (r["test_std"], u)},
                "calibration": {"spread_scale": (np.float64(r["calibration"][0]), ""),
                                "sigma_floor": (np.float64(r["calibration"][1]), u)},
                "coverage": {kind: {f"nominal_{level}": (np.float64(v), "") for level, v in cov.items()}
                             for kind, cov in r["coverage"].items()}}
        if "learning_curve" in r:
            lc = r["learning_curve"]
            node["learning_curve"] = {"n_train": np.array([row["n_train"] for row in lc]),
                                      "r2": (np.array([row["r2"] for row in lc]), ""),
                                      "mae": (np.array([row["mae"] for row in lc]), u)}
        tree[name] = node
    return tree
