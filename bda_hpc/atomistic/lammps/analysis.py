"""From MD output to numbers: diffusivity from the MSD, Arrhenius fit, surface roughness (NumPy)."""
from __future__ import annotations

import numpy as np

# re-exported for the md tasks: the one Arrhenius fit and the one D-with-blocked-error of both MD paths
from ..diffusion import KB as KB_EV  # noqa: F401
from ..diffusion import arrhenius, msd_diffusivity, trajectory_diffusivity  # noqa: F401


def resolved(value: float, stderr: float) -> bool:
    """A diffusivity that the run resolves: positive and at least 3 standard errors from zero."""
    return value > 0 and value > 3 * stderr


def unwrap(x, length: float) -> np.ndarray:
    """Undo periodic wrapping of a coordinate sampled often enough that true steps are < length / 2."""
    x = np.asarray(x, float)
    jumps = np.round(np.diff(x) / length)
    return x - length * np.concatenate([[0.0], np.cumsum(jumps)])


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
