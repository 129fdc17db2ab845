"""Capacity-trajectory and remaining-useful-life forecasting on the 32 NCM811 cells.

From the first N cycles of a cell, forecast capacity against cycle number to
end of life (0.88 Ah) with an ensemble band, by the plain and the
physics-informed network of :mod:`laws`, beside two baselines (the training
fleet's mean drop curve, and a straight line through the last 50 early
cycles). Cross-validation leaves cells out: within temperatures (folds
stratified by temperature) and across temperatures (one temperature held out
per fold). Test cells of a fold are never used to fit, standardise or stop.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .calibration import cross_conformal
from .data import END_OF_LIFE_AH, Cell
from .laws import HORIZON, DropNet, anchored
from .quality import outlier_mask
from .search import map_over_ranks

log = logging.getLogger("bda_hpc.lifetime")

GRID_STEP = 5                                            # cycles between points of the training loss
FORECAST_CYCLES = np.arange(1, HORIZON + 1, dtype=float)
FEATURE_NAMES = ["loss_at_N", "loss_at_half_N", "slope_last50", "slope_first_half", "curvature", "noise"]


@dataclass
class TrajectoryConfig:
    early_cycles: list[int] = field(default_factory=lambda: [100, 200])
    variants: list[str] = field(default_factory=lambda: ["plain", "physics"])
    ensemble: int = 5              # networks per forecast (seeds seed .. seed+ensemble-1, bootstrap of cells)
    hidden: int = 16
    epochs: int = 1500
    lr: float = 1e-2
    weight_decay: float = 1e-3
    within_folds: int = 4          # leave-cells-out folds stratified by temperature
    across_temperatures: bool = True
    band_quantile: float = 0.9     # central coverage of the band (ensemble mean ± z·std)

    def validate(self) -> list[str]:
        problems = []
        if not self.early_cycles or any(n < 50 for n in self.early_cycles):
            problems.append(f"early_cycles: need values >= 50, got {self.early_cycles}")
        bad = sorted(set(self.variants) - {"plain", "physics"})
        if bad or not self.variants:
            problems.append(f"variants: use 'plain' and/or 'physics', got {self.variants}")
        if self.ensemble < 2:
            problems.append(f"ensemble: need >= 2 members for a band, got {self.ensemble}")
        if self.within_folds < 2:
            problems.append(f"within_folds: must be >= 2, got {self.within_folds}")
        if not 0.5 <= self.band_quantile < 1:
            problems.append(f"band_quantile: must be in [0.5, 1), got {self.band_quantile}")
        return problems


def clean_trajectory(cell: Cell) -> np.ndarray:
    """Capacity on cycles 1..max as a dense array, NaN for missing and outlier cycles."""
    out = np.full(int(cell.cycle.max()), np.nan)
    ok = ~outlier_mask(cell.discharge_capacity) & np.isfinite(cell.discharge_capacity)
    out[cell.cycle[ok] - 1] = cell.discharge_capacity[ok]
    return out


def early_features(q: np.ndarray, n_early: int, cell_id: str) -> np.ndarray:
    """Capacity-only features of the first ``n_early`` cycles (Ah and Ah per 1000 cycles)."""
    if q.size < n_early or np.isfinite(q[:n_early]).sum() < 0.8 * n_early:
        raise InputError(f"cell {cell_id}: needs {n_early} early cycles with capacity, has "
                         f"{int(np.isfinite(q[:n_early]).sum())}")
    early = q[:n_early]
    n = np.arange(1, n_early + 1)
    ok = np.isfinite(early)

    def slope(lo, hi):
        sel = ok & (n >= lo) & (n <= hi)
        return 1000.0 * np.polyfit(n[sel], early[sel], 1)[0]

    ref = np.nanmedian(early[:10])
    late, first = slope(n_early - 49, n_early), slope(1, n_early // 2)
    residual = early[ok] - np.polyval(np.polyfit(n[ok], early[ok], 2), n[ok])
    return np.array([ref - np.nanmedian(early[-10:]), ref - np.nanmedian(early[n_early // 2 - 5:n_early // 2 + 5]),
                     late, first, late - first, 1000.0 * residual.std()])


@dataclass
class Prepared:
    """Cells as padded arrays for one early-cycle count N."""

    cell_ids: list[str]
    temperature: np.ndarray
    features: np.ndarray       # (cells, features)
    q: np.ndarray              # (cells, HORIZON) measured capacity, NaN beyond the data
    cycle_life: np.ndarray
    n_early: int


def prepare(cells: list[Cell], n_early: int) -> Prepared:
    qs = np.full((len(cells), HORIZON), np.nan)
    for i, cell in enumerate(cells):
        q = clean_trajectory(cell)[:HORIZON]
        qs[i, :q.size] = q
    feats = np.array([early_features(qs[i], n_early, c.cell_id) for i, c in enumerate(cells)])
    lives = np.array([c.cycle_life if c.cycle_life is not None else np.nan for c in cells])
    return Prepared([c.cell_id for c in cells], np.array([c.temperature_c or np.nan for c in cells]), feats, qs,
                    lives, n_early)


def _tensors(data: Prepared, idx, mean, std, cycles):
    import torch

    x = torch.as_tensor((data.features[idx] - mean) / std)
    early = data.q[idx, :data.n_early]
    mask = np.isfinite(early)
    target = data.q[idx][:, cycles.astype(int) - 1]
    return (x, torch.as_tensor(np.nan_to_num(early)), torch.as_tensor(mask.astype(float)),
            torch.as_tensor(np.nan_to_num(target)), torch.as_tensor(np.isfinite(target).astype(float)))


def train_member(kind: str, data: Prepared, train_idx: np.ndarray, cfg: TrajectoryConfig, seed: int):
    """One network on a bootstrap resample of the training cells; returns (net, feature mean, std)."""
    import torch

    rng = np.random.default_rng(seed)
    idx = rng.choice(train_idx, size=train_idx.size, replace=True)
    mean, std = data.features[train_idx].mean(0), data.features[train_idx].std(0) + 1e-9
    cycles = np.arange(1, HORIZON + 1, GRID_STEP, dtype=float)
    early_cycles = np.arange(1, data.n_early + 1, dtype=float)
    x, eq, em, target, tmask = _tensors(data, idx, mean, std, cycles)
    net = DropNet(kind, x.shape[1], cfg.hidden, seed)
    opt = torch.optim.Adam(net.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for _ in range(cfg.epochs):
        opt.zero_grad()
        pred = anchored(net.drop(x, cycles), eq, em, net.drop(x, early_cycles))
        loss = (((pred - target) * tmask) ** 2).sum() / tmask.sum()
        loss.backward()
        opt.step()
    return net, mean, std


def forecast(members, data: Prepared, idx: np.ndarray) -> np.ndarray:
    """(members, cells, HORIZON) forecast capacity for cells ``idx``."""
    import torch

    early_cycles = np.arange(1, data.n_early + 1, dtype=float)
    out = []
    with torch.no_grad():
        for net, mean, std in members:
            x, eq, em, _, _ = _tensors(data, idx, mean, std, FORECAST_CYCLES)
            out.append(anchored(net.drop(x, FORECAST_CYCLES), eq, em, net.drop(x, early_cycles)).numpy())
    return np.asarray(out)


def fleet_mean_forecast(data: Prepared, train_idx, idx) -> np.ndarray:
    """Baseline: the training cells' mean drop curve (relative to their first 10 cycles), anchored per cell."""
    ref = np.nanmedian(data.q[train_idx, :10], axis=1, keepdims=True)
    diff = ref - data.q[train_idx]
    count = np.isfinite(diff).sum(0)
    drop = np.where(count > 0, np.nansum(diff, 0) / np.maximum(count, 1), np.nan)
    drop = np.maximum.accumulate(np.nan_to_num(drop, nan=np.nanmax(drop)))    # beyond the data: hold the last
    early = data.q[idx, :data.n_early]
    q0 = np.nanmean(early + drop[:data.n_early], axis=1, keepdims=True)
    return (q0 - drop)[None]


def linear_forecast(data: Prepared, idx) -> np.ndarray:
    """Baseline: straight line through the last 50 early cycles."""
    n = np.arange(data.n_early - 49, data.n_early + 1)
    out = []
    for i in idx:
        q = data.q[i, n - 1]
        ok = np.isfinite(q)
        out.append(np.polyval(np.polyfit(n[ok], q[ok], 1), FORECAST_CYCLES))
    return np.asarray(out)[None]


def end_of_life(q: np.ndarray, n_early: int) -> np.ndarray:
    """First cycle after ``n_early`` where a forecast falls below end of life (HORIZON if never)."""
    below = q[..., n_early:] < END_OF_LIFE_AH
    return np.where(below.any(-1), below.argmax(-1) + n_early + 1, HORIZON).astype(float)


def score(data: Prepared, idx, members_q: np.ndarray, z: float) -> dict:
    """RUL MAE (cycles), trajectory RMSE to end of life (Ah) and band coverage for cells ``idx``."""
    mean = members_q.mean(0)
    std = members_q.std(0) if members_q.shape[0] > 1 else np.zeros_like(mean)
    true_rul = data.cycle_life[idx] - data.n_early
    pred_rul = end_of_life(mean, data.n_early) - data.n_early
    sq, inside, count = 0.0, 0, 0
    for k, i in enumerate(idx):
        life = data.cycle_life[i]
        stop = int(min(life, HORIZON)) if np.isfinite(life) else HORIZON   # no end of life: score all data
        measured = data.q[i, data.n_early:stop]
        ok = np.isfinite(measured)
        err = mean[k, data.n_early:stop][ok] - measured[ok]
        sq += float(np.sum(err ** 2))
        count += int(ok.sum())
        inside += int(np.sum(np.abs(err) <= z * std[k, data.n_early:stop][ok]))
    known = np.isfinite(true_rul)
    return {"rul_mae_cycles": float(np.mean(np.abs(pred_rul - true_rul)[known])) if known.any() else float("nan"),
            "trajectory_rmse_ah": float(np.sqrt(sq / max(count, 1))),
            "band_coverage": float(inside / max(count, 1)),
            "predicted_rul": pred_rul, "true_rul": true_rul}


def folds(data: Prepared, cfg: TrajectoryConfig, seed: int) -> list[tuple[str, np.ndarray]]:
    """(name, held-out indices): stratified leave-cells-out folds, then one fold per temperature."""
    rng = np.random.default_rng(seed)
    out = []
    assign = np.empty(len(data.cell_ids), dtype=int)
    for t in np.unique(data.temperature):
        members = rng.permutation(np.flatnonzero(data.temperature == t))
        assign[members] = (np.arange(members.size) + rng.integers(cfg.within_folds)) % cfg.within_folds
    out += [(f"within/{k}", np.flatnonzero(assign == k)) for k in range(cfg.within_folds)]
    if cfg.across_temperatures:
        out += [(f"across/T{t:g}", np.flatnonzero(data.temperature == t)) for t in np.unique(data.temperature)]
    return out


def run_fold(data: Prepared, held: np.ndarray, cfg: TrajectoryConfig, seed: int) -> dict:
    """Every variant and baseline on one fold: scores and forecasts of the held-out cells."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + cfg.band_quantile / 2)
    train_idx = np.setdiff1d(np.arange(len(data.cell_ids)), held)
    result = {}
    for kind in cfg.variants:
        members = [train_member(kind, data, train_idx, cfg, seed + m) for m in range(cfg.ensemble)]
        qf = forecast(members, data, held)
        result[kind] = {**score(data, held, qf, z), "mean": qf.mean(0), "std": qf.std(0),
                        "seeds": list(range(seed, seed + cfg.ensemble))}
    for name, qf in (("baseline_fleet_mean", fleet_mean_forecast(data, train_idx, held)),
                     ("baseline_linear", linear_forecast(data, held))):
        result[name] = {**score(data, held, qf, z), "mean": qf[0], "std": np.zeros_like(qf[0]), "seeds": []}
    return result


def cross_validate(cells: list[Cell], cfg: TrajectoryConfig, seed: int = 0, comm=None) -> dict:
    """{N: {"folds": [(name, held, result)], "summary": {model: {cv: {metric: (mean, std)}}}}}."""
    import torch

    torch.set_num_threads(1)
    out = {}
    for n_early in cfg.early_cycles:
        data = prepare(cells, n_early)
        fold_list = folds(data, cfg, seed)
        log.info("trajectory N=%d: %d cells, %d folds x %d variants x %d members", n_early, len(cells),
                 len(fold_list), len(cfg.variants), cfg.ensemble)
        results = map_over_ranks(comm, fold_list, lambda f, data=data: run_fold(data, f[1], cfg, seed))
        calibrate(data, fold_list, results, cfg.band_quantile)
        out[n_early] = {"data": data, "folds": [(name, held, res) for (name, held), res in zip(fold_list, results)],
                        "summary": summarise(fold_list, results)}
    return out


def calibrate(data: Prepared, fold_list, results, quantile: float) -> None:
    """Add the cross-conformal band (calibrated on the other folds of the same CV kind) to every fold result."""
    for cv in ("within", "across"):
        ks = [k for k, (name, _) in enumerate(fold_list) if name.startswith(cv)]
        if len(ks) < 2:
            continue
        for model in results[ks[0]]:
            args = (data.q, data.cycle_life, data.n_early, [fold_list[k][1] for k in ks],
                    [results[k][model]["mean"] for k in ks], [results[k][model]["std"] for k in ks], quantile)
            pooled, worst = cross_conformal(*args, rule="pooled"), cross_conformal(*args, rule="worst_fold")
            for k, c, w in zip(ks, pooled, worst):
                results[k][model].update(band_coverage_calibrated=c["coverage"], half_width=c["half_width"],
                                         calibration_scale=c["scale"], band_coverage_worst_fold=w["coverage"],
                                         half_width_worst_fold=w["half_width"])


METRICS = ("rul_mae_cycles", "trajectory_rmse_ah", "band_coverage", "band_coverage_calibrated",
           "band_coverage_worst_fold")


def summarise(fold_list, results) -> dict:
    """Per model and CV kind (within/across): mean and std over folds of each metric, and pooled RUL MAE."""
    summary = {}
    for model in results[0]:
        for cv in ("within", "across"):
            picked = [r[model] for (name, _), r in zip(fold_list, results) if name.startswith(cv)]
            if not picked:
                continue
            summary.setdefault(model, {})[cv] = {
                metric: (float(np.mean([p[metric] for p in picked])), float(np.std([p[metric] for p in picked])))
                for metric in METRICS if metric in picked[0]}
    return summary


def format_summary(cv: dict) -> str:
    lines = []
    for n_early, block in cv.items():
        lines.append(f"N = {n_early} early cycles   RUL MAE (cycles) | trajectory RMSE (mAh) | band coverage, "
                     "mean ± std over folds; band coverage nominal -> calibrated pooled / worst-fold")
        for model, kinds in block["summary"].items():
            for kind, m in kinds.items():
                lines.append(f"  {model:20s} {kind:7s} {m['rul_mae_cycles'][0]:6.1f} ± {m['rul_mae_cycles'][1]:5.1f}"
                             f"  | {1e3 * m['trajectory_rmse_ah'][0]:6.1f} ± {1e3 * m['trajectory_rmse_ah'][1]:5.1f}"
                             f"  | {m['band_coverage'][0]:.2f}"
                             f" -> {m.get('band_coverage_calibrated', (np.nan,))[0]:.2f}"
                             f" / {m.get('band_coverage_worst_fold', (np.nan,))[0]:.2f}")
    return "\n".join(lines)
