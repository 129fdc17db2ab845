"""Capacity-trajectory models: an empirical degradation law and the two forecasting networks.

Degradation law (capacity Q in Ah against cycle number n, s = n / 1000)::

    Q(n) = Q0 − a √s − b (exp(s / τ) − 1)

the √s term is SEI growth (diffusion-limited, parabolic in time), the
exponential one the accelerating loss behind the knee (lithium plating,
loss of active material). a, b ≥ 0 and τ > 0.

Both networks read the same early-cycle features and produce a capacity
*drop* curve d(n) ≥ 0, d(0) = 0; the forecast is Q0 − d(n) with Q0 fitted in
closed form to the cell's own first N cycles, so a forecast always starts on
the measured data:

* plain: d(n) is a monotone piecewise-linear curve through knots whose
  increments the network outputs (no physics);
* physics-informed: the network outputs (a, b, τ) of the law, and training
  minimises the law's residual against the measured trajectories.
"""
from __future__ import annotations

import numpy as np

CYCLE_SCALE = 1000.0
HORIZON = 2000          # cycles: forecasts (and RUL) are computed up to here
KNOT_STEP = 100         # cycles between knots of the plain model


def law_drop(s, a, b, tau, xp=np):
    """Capacity drop of the law at scaled cycle ``s`` (works for numpy and torch)."""
    return a * xp.sqrt(s) + b * (xp.exp(s / tau) - 1.0)


def fit_law(cycle: np.ndarray, capacity: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares (Q0, a, b, τ) of one measured trajectory and the RMSE (Ah): how well the law can fit."""
    from scipy.optimize import least_squares

    s = cycle / CYCLE_SCALE

    def residual(p):
        q0, a, b, tau = p
        return q0 - law_drop(s, a, b, tau) - capacity

    start = [capacity[:10].mean(), 0.05, 0.01, 0.3]
    sol = least_squares(residual, start, bounds=([0, 0, 0, 0.02], [5, 5, 5, 10]))
    return sol.x, float(np.sqrt(np.mean(sol.fun ** 2)))


def interpolation_matrix(cycles: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """W with (W @ values_at_knots) = piecewise-linear interpolation at ``cycles``."""
    W = np.zeros((cycles.size, knots.size))
    idx = np.clip(np.searchsorted(knots, cycles, side="right") - 1, 0, knots.size - 2)
    t = np.clip((cycles - knots[idx]) / (knots[idx + 1] - knots[idx]), 0.0, 1.0)
    W[np.arange(cycles.size), idx] = 1.0 - t
    W[np.arange(cycles.size), idx + 1] = t
    return W


class DropNet:
    """features -> drop curve d(n) on a cycle grid; ``kind`` is "plain" or "physics"."""

    def __init__(self, kind: str, n_features: int, hidden: int, seed: int):
        import torch

        if kind not in ("plain", "physics"):
            raise ValueError(f"DropNet kind must be 'plain' or 'physics', got {kind!r}")
        torch.manual_seed(seed)
        self.kind = kind
        self.knots = np.arange(0, HORIZON + KNOT_STEP, KNOT_STEP, dtype=float)
        n_out = self.knots.size - 1 if kind == "plain" else 3
        self.net = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, n_out)).double()

    def drop(self, features, cycles: np.ndarray):
        """Torch tensor (cells, len(cycles)) of capacity drops (Ah)."""
        import torch

        raw = self.net(features)
        sp = torch.nn.functional.softplus
        if self.kind == "plain":
            increments = 0.02 * sp(raw)                                   # Ah per knot interval, >= 0
            at_knots = torch.cat([torch.zeros_like(increments[:, :1]), torch.cumsum(increments, 1)], 1)
            W = torch.as_tensor(interpolation_matrix(cycles, self.knots))
            return at_knots @ W.T
        a, b, tau = self._law(raw)
        s = torch.as_tensor(cycles / CYCLE_SCALE).reshape(1, -1)
        return law_drop(s, a, b, tau, xp=torch)

    @staticmethod
    def _law(raw):
        """(a, b, τ) from raw outputs, scaled so that raw ≈ 0 gives the order of magnitude of fitted cells
        (a ~ 0.03 Ah, b ~ 0.1 Ah, τ ~ 0.6); τ >= 0.2 keeps exp(s/τ) finite over the horizon."""
        import torch

        sp = torch.nn.functional.softplus
        return 0.04 * sp(raw[:, :1]), 0.15 * sp(raw[:, 1:2]), 0.2 + 0.6 * sp(raw[:, 2:3])

    def law_parameters(self, features) -> np.ndarray | None:
        """(a, b, τ) per cell for the physics-informed net (None for the plain one)."""
        import torch

        if self.kind != "physics":
            return None
        with torch.no_grad():
            return torch.cat(self._law(self.net(features)), 1).numpy()


def anchored(drop, early_q, early_mask, early_drop):
    """Q0 − d(n), Q0 the least-squares offset matching the first N measured cycles (masked mean)."""
    q0 = ((early_q + early_drop) * early_mask).sum(1, keepdim=True) / early_mask.sum(1, keepdim=True)
    return q0 - drop
