"""Constrained expected improvement and constant-liar batches over ensemble surrogates.

Everything here works in the unit cube of the design space and on *minimisation* of ``f``
(a maximised objective enters as -f). Constraint ``lower <= g <= upper`` enters as the
probability of feasibility P(lower <= g <= upper) under a normal with the ensemble's mean and spread
(Gardner et al. 2014, Gelbart et al. 2014); the acquisition is EI x PoF, or PoF alone while no
feasible point has been simulated yet. The maximiser is a dense candidate search: scrambled Sobol
points over the cube plus Gaussian perturbations of the best simulated points, which is robust for the
few (<= ~8) dimensions of these problems and needs no gradients through the ensemble.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm, qmc

from .problems import Constraint


def expected_improvement(mean, std, best) -> np.ndarray:
    """EI for minimisation below ``best`` (zero spread gives the plain improvement)."""
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    safe = np.maximum(std, 1e-12)
    z = (best - mean) / safe
    ei = (best - mean) * norm.cdf(z) + safe * norm.pdf(z)
    return np.where(std > 1e-12, np.maximum(ei, 0.0), np.maximum(best - mean, 0.0))


def probability_feasible(means: dict, stds: dict, constraints: list[Constraint]) -> np.ndarray:
    """Product over constraints of P(lower <= g <= upper), g ~ N(mean, std^2), constraints independent."""
    pof = None
    for c in constraints:
        m, s = means[c.output], np.maximum(stds[c.output], 1e-12)
        below_upper = norm.cdf((c.upper - m) / s) if c.upper is not None else 1.0
        below_lower = norm.cdf((c.lower - m) / s) if c.lower is not None else 0.0
        p = np.clip(below_upper - below_lower, 0.0, 1.0)
        pof = p if pof is None else pof * p
    if pof is None:
        return np.ones_like(np.asarray(next(iter(means.values())), float))
    return pof


def candidates(dim: int, best_points: np.ndarray, n_global: int = 2048, n_local: int = 256,
               scale: float = 0.05, seed: int = 0) -> np.ndarray:
    """Sobol points over [0,1]^dim plus Gaussian clouds around each of ``best_points`` (clipped)."""
    rng = np.random.default_rng(seed)
    pts = [qmc.Sobol(d=dim, scramble=True, seed=seed).random_base2(int(np.ceil(np.log2(n_global))))]
    for p in np.atleast_2d(best_points):
        pts.append(np.clip(p + scale * rng.standard_normal((n_local, dim)), 0.0, 1.0))
    return np.vstack(pts)
