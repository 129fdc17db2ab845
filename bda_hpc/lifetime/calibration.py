"""Calibrated forecast bands: cross-conformal scaling over leave-cells-out folds.

An ensemble's spread is not a calibrated uncertainty (members share the data and the architecture; the
nominal 90 % bands of session 1 covered 9–42 % of points). Here the band half-width at forecast
horizon h (cycles after the last observed one) is ``c(h) · (std + floor)``, with c(h) the
``quantile`` of the normalised errors |forecast − measured| / (std + floor) in horizon bins, taken over
the held-out cells of the *other* folds of the same cross-validation (within or across
temperatures). The cells whose coverage is reported never enter their own c(h): a cross-conformal
(leave-one-fold-out) calibration. ``floor`` keeps bands of deterministic baselines (std = 0) and of
the anchored start of a forecast (std ≈ 0) finite; it makes c(h) an absolute error quantile there.

Two ways to combine the other folds (``rule``): "pooled" takes the quantile of all their errors
together; "worst_fold" takes each other fold's own quantile and keeps the largest. Pooling assumes the
held-out fold's errors are exchangeable with the others'; across temperatures they are not (a held-out
end temperature, 25 or 55 °C, is an extrapolation, while the pool is dominated by interpolated ones), so
the worst-fold rule asks the band to be as wide as the hardest calibration temperature needed.
"""
from __future__ import annotations

import numpy as np

HORIZON_BIN = 100        # cycles per horizon bin of c(h)
FLOOR_AH = 1e-3          # Ah added to the ensemble std before normalising


def scored_points(q: np.ndarray, life: float, n_early: int, stop_at: int) -> np.ndarray:
    """Forecast indices (0-based cycle − 1) scored for one cell: measured cycles after N up to end of life."""
    stop = int(min(life, stop_at)) if np.isfinite(life) else stop_at
    idx = np.arange(n_early, stop)
    return idx[np.isfinite(q[idx])]


def normalised_errors(q, lives, n_early, mean, std, floor=FLOOR_AH) -> tuple[np.ndarray, np.ndarray]:
    """(horizon, |error| / (std + floor)) over every scored point of the cells in ``q`` (rows)."""
    horizons, ratios = [], []
    for i in range(q.shape[0]):
        idx = scored_points(q[i], lives[i], n_early, q.shape[1])
        horizons.append(idx + 1 - n_early)
        ratios.append(np.abs(mean[i, idx] - q[i, idx]) / (std[i, idx] + floor))
    return np.concatenate(horizons), np.concatenate(ratios)


def fit_scale(horizon: np.ndarray, ratio: np.ndarray, quantile: float, n_bins: int) -> np.ndarray:
    """c per horizon bin: the conformal quantile ⌈(n+1)q⌉/n of the ratios in the bin; an empty bin takes the
    previous bin's value (forecasts far out are at least as uncertain)."""
    scale = np.full(n_bins, np.nan)
    bins = np.minimum((horizon - 1) // HORIZON_BIN, n_bins - 1)
    for b in range(n_bins):
        r = np.sort(ratio[bins == b])
        if r.size:
            scale[b] = r[min(r.size - 1, int(np.ceil((r.size + 1) * quantile)) - 1)]
    if np.isnan(scale[0]):
        scale[0] = np.nanmin(scale) if np.isfinite(scale).any() else np.inf
    for b in range(1, n_bins):
        if np.isnan(scale[b]):
            scale[b] = scale[b - 1]
    return scale


def half_width(std: np.ndarray, n_early: int, scale: np.ndarray, floor=FLOOR_AH) -> np.ndarray:
    """Calibrated band half-width (Ah) on the full forecast grid (cells, cycles)."""
    horizon = np.arange(1, std.shape[1] + 1) - n_early
    bins = np.clip((horizon - 1) // HORIZON_BIN, 0, scale.size - 1)
    return scale[bins][None, :] * (std + floor)


def coverage(q, lives, n_early, mean, width) -> float:
    """Fraction of scored points whose measurement lies inside mean ± width."""
    inside = count = 0
    for i in range(q.shape[0]):
        idx = scored_points(q[i], lives[i], n_early, q.shape[1])
        inside += int(np.sum(np.abs(mean[i, idx] - q[i, idx]) <= width[i, idx]))
        count += idx.size
    return inside / max(count, 1)


RULES = ("pooled", "worst_fold")


def cross_conformal(q, lives, n_early, folds: list[np.ndarray], means: list, stds: list, quantile: float,
                    floor=FLOOR_AH, rule: str = "pooled") -> list[dict]:
    """For each fold k: c(h) from the other folds' held-out cells (combined by ``rule``, see the module
    docstring), the calibrated half-width of fold k's forecasts and its coverage. ``folds[k]`` indexes rows
    of ``q``/``lives``; ``means[k]``/``stds[k]`` are the forecasts of those cells by the model that did not
    see them."""
    if rule not in RULES:
        raise ValueError(f"calibration rule {rule!r} unknown (use {', '.join(RULES)})")
    n_bins = int(np.ceil((q.shape[1] - n_early) / HORIZON_BIN))
    errors = [normalised_errors(q[held], lives[held], n_early, m, s, floor) for held, m, s in zip(folds, means, stds)]
    out = []
    for k, held in enumerate(folds):
        others = [e for j, e in enumerate(errors) if j != k]
        if rule == "pooled":
            scale = fit_scale(np.concatenate([h for h, _ in others]), np.concatenate([r for _, r in others]),
                              quantile, n_bins)
        else:
            scale = np.max([fit_scale(h, r, quantile, n_bins) for h, r in others], axis=0)
        width = half_width(stds[k], n_early, scale, floor)
        out.append({"scale": scale, "half_width": width,
                    "coverage": coverage(q[held], lives[held], n_early, means[k], width)})
    return out
