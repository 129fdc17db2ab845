"""Grid-convergence bookkeeping: observed order and Richardson extrapolation over a grid sequence."""
from __future__ import annotations

import numpy as np


def grid_convergence(values: list[float], refinement: float = 2.0) -> dict:
    """Changes of one quantity between successive grids (coarse to fine, h divided by ``refinement`` each time),
    the observed order where two successive changes keep their sign and shrink, and Richardson's value from the
    last two grids where the last order is one: a sequence that turns is not in the asymptotic range (the log of
    the ratio would read a crossing as fast convergence), and one whose changes grow is not converging."""
    v = np.array(values, dtype=float)
    d = np.diff(v)
    orders = [float(np.log(a / b) / np.log(refinement)) if a * b > 0 and abs(b) < abs(a) else None
              for a, b in zip(d[:-1], d[1:])]
    out = {"values": v.tolist(), "change_to_next_grid": (d / v[1:]).tolist(), "observed_order": orders}
    if orders and orders[-1] is not None:
        out["extrapolated"] = float(v[-1] + d[-1] / (refinement ** orders[-1] - 1))
    return out
