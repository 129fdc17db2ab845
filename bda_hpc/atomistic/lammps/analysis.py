"""From MD output to numbers: diffusivity from the MSD, Arrhenius fit, surface roughness (NumPy)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SolverError
from ..diffusion import KB as KB_EV  # noqa: F401  (re-exported: the md tasks and tests use analysis.KB_EV)
from ..diffusion import arrhenius  # noqa: F401  (the one fit of both stages, re-exported for the md tasks)


@dataclass
class LinearFit:
    slope: float
    intercept: float
    slope_stderr: float


def linear_fit(x, y) -> LinearFit:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        raise SolverError(f"a linear fit needs at least 3 points, got {len(x)}")
    A = np.column_stack([x, np.ones_like(x)])
    (slope, intercept), *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - (slope * x + intercept)
    var = resid @ resid / max(len(x) - 2, 1)
    stderr = float(np.sqrt(var / ((x - x.mean()) @ (x - x.mean()))))
    return LinearFit(float(slope), float(intercept), stderr)


def diffusivity(time_ps, msd_a2, dimensions: int, skip_fraction: float = 0.2) -> tuple[float, float]:
    """D (Å²/ps) and its standard error from MSD = 2 d D t, fitted after the first ``skip_fraction``
    of the time (the ballistic and transient part)."""
    t, m = np.asarray(time_ps, float), np.asarray(msd_a2, float)
    keep = t >= t[0] + skip_fraction * (t[-1] - t[0])
    fit = linear_fit(t[keep], m[keep])
    return fit.slope / (2 * dimensions), fit.slope_stderr / (2 * dimensions)


def resolved(value: float, stderr: float) -> bool:
    """A diffusivity that the run resolves: positive and at least 3 standard errors from zero."""
    return value > 0 and value > 3 * stderr


def unwrap(x, length: float) -> np.ndarray:
    """Undo periodic wrapping of a coordinate sampled often enough that true steps are < length / 2."""
    x = np.asarray(x, float)
    jumps = np.round(np.diff(x) / length)
    return x - length * np.concatenate([[0.0], np.cumsum(jumps)])


def time_averaged_msd(positions: np.ndarray, max_lag: int) -> np.ndarray:
    """MSD(lag) for lag = 0 .. max_lag samples, averaged over every time origin (one trajectory)."""
    positions = np.asarray(positions, float).reshape(len(positions), -1)
    return np.array([0.0] + [np.mean(np.sum((positions[lag:] - positions[:-lag]) ** 2, axis=1))
                             for lag in range(1, max_lag + 1)])


def surface_heights(positions: np.ndarray, lx: float, ly: float, bins: int) -> np.ndarray:
    """Height map: the highest z in each of bins x bins columns (columns without atoms: NaN)."""
    ix = np.floor(positions[:, 0] / lx * bins).astype(int) % bins
    iy = np.floor(positions[:, 1] / ly * bins).astype(int) % bins
    h = np.full(bins * bins, -np.inf)
    np.maximum.at(h, ix * bins + iy, positions[:, 2])
    h[np.isinf(h)] = np.nan
    return h.reshape(bins, bins)


def attached(positions: np.ndarray, lx: float, ly: float, bond: float = 3.3) -> np.ndarray:
    """Mask of the atoms bonded (chains of neighbours within ``bond`` Å, periodic in x, y) to the lowest
    atom, i.e. to the slab: atoms still in flight, alone or in a cluster, are left out."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    p = positions - [0.0, 0.0, positions[:, 2].min()]
    p[:, :2] %= [lx, ly]
    i, j = cKDTree(p, boxsize=[lx, ly, 1e6]).query_pairs(bond, output_type="ndarray").T.reshape(2, -1)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(p), len(p)))
    _n, label = connected_components(graph, directed=False)
    return label == label[np.argmin(p[:, 2])]


def roughness(positions: np.ndarray, lx: float, ly: float, bins: int) -> float:
    """RMS deviation of the height map of the attached atoms from its mean (Å)."""
    h = surface_heights(positions[attached(positions, lx, ly)], lx, ly, bins)
    return float(np.sqrt(np.nanmean((h - np.nanmean(h)) ** 2)))
