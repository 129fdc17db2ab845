"""Design variables, the ranges the simulators accept, and space-filling samples (LHS, scrambled Sobol).

A ``DesignSpace`` is what the user asks to search; each variable's bounds are checked against the
``limits`` the problem declares (what its simulator accepts) before anything is submitted, so a bad
range fails in seconds with the variable's name instead of hours later inside a batch.
Variables may be searched on a log scale (``log = true``): sampling and the surrogate then work on
log10 of the value, which suits quantities spanning decades (diffusivities, exchange currents).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc

from ..errors import InputError


@dataclass
class Variable:
    name: str
    low: float
    high: float
    units: str = ""
    log: bool = False

    def validate(self) -> list[str]:
        problems = []
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            problems.append(f"{self.name}: bounds must be finite, got [{self.low}, {self.high}]")
        elif not self.high > self.low:
            problems.append(f"{self.name}: high ({self.high}) must exceed low ({self.low})")
        elif self.log and self.low <= 0:
            problems.append(f"{self.name}: a log-scale variable needs low > 0, got {self.low}")
        return problems


class DesignSpace:
    """An ordered box of variables; maps between physical values and the unit cube [0, 1]^d."""

    def __init__(self, variables: list[Variable], limits: dict[str, tuple[float, float]] | None = None,
                 where: str = "design space"):
        problems = [p for v in variables for p in v.validate()]
        names = [v.name for v in variables]
        if not variables:
            problems.append("no design variables given")
        if len(set(names)) != len(names):
            problems.append(f"repeated variable names in {names}")
        if limits is not None:
            for v in variables:
                if v.name not in limits:
                    problems.append(f"{v.name}: not a variable this problem accepts "
                                    f"(accepted: {', '.join(sorted(limits))})")
                    continue
                lo, hi = limits[v.name]
                if v.low < lo or v.high > hi:
                    problems.append(f"{v.name}: range [{v.low:g}, {v.high:g}] leaves the range the simulator "
                                    f"accepts [{lo:g}, {hi:g}]")
        if problems:
            raise InputError(f"{where}: " + "; ".join(problems))
        self.variables = list(variables)
        self.limits = limits

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def dim(self) -> int:
        return len(self.variables)

    def _scaled_bounds(self):
        lo = np.array([np.log10(v.low) if v.log else v.low for v in self.variables])
        hi = np.array([np.log10(v.high) if v.log else v.high for v in self.variables])
        return lo, hi

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, float))
        logs = np.array([v.log for v in self.variables])
        z = np.where(logs, np.log10(np.where(logs, np.abs(x), 1.0)), x)
        lo, hi = self._scaled_bounds()
        return (z - lo) / (hi - lo)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(np.asarray(u, float))
        lo, hi = self._scaled_bounds()
        z = lo + u * (hi - lo)
        logs = np.array([v.log for v in self.variables])
        x = np.where(logs, 10.0 ** z, z)
        # round-off (e.g. -0.45 + 1.0 * 0.3 = -0.15000000000000002) must not push an end point outside
        return np.clip(x, [v.low for v in self.variables], [v.high for v in self.variables])

    def check(self, x: np.ndarray, where: str = "proposed point") -> None:
        """Raise InputError naming the variable and row of any value outside the box (before submission)."""
        x = np.atleast_2d(np.asarray(x, float))
        if x.shape[1] != self.dim:
            raise InputError(f"{where}: expected {self.dim} values ({', '.join(self.names)}), got {x.shape[1]}")
        for j, v in enumerate(self.variables):
            bad = np.flatnonzero(~((x[:, j] >= v.low) & (x[:, j] <= v.high)))
            if bad.size:
                i = int(bad[0])
                raise InputError(f"{where} {i}: {v.name} = {x[i, j]:g} lies outside [{v.low:g}, {v.high:g}]"
                                 f"{' ' + v.units if v.units else ''}")

    def as_dicts(self, x: np.ndarray) -> list[dict[str, float]]:
        return [dict(zip(self.names, map(float, row))) for row in np.atleast_2d(x)]

    def sample(self, n: int, method: str = "lhs", seed: int = 0) -> np.ndarray:
        """n points in physical units; ``lhs`` (Latin hypercube) or ``sobol`` (scrambled)."""
        return self.from_unit(unit_sample(self.dim, n, method, seed))


def unit_sample(dim: int, n: int, method: str = "lhs", seed: int = 0) -> np.ndarray:
    if n < 1:
        raise InputError(f"sample size must be at least 1, got {n}")
    if method == "lhs":
        return qmc.LatinHypercube(d=dim, seed=seed).random(n)
    if method == "sobol":
        # a Sobol sequence is balanced at powers of two; take the first n of the next power
        m = int(np.ceil(np.log2(n)))
        return qmc.Sobol(d=dim, scramble=True, seed=seed).random_base2(m)[:n]
    if method == "random":
        return np.random.default_rng(seed).random((n, dim))
    raise InputError(f"sampling method {method!r}: expected 'lhs', 'sobol' or 'random'")
