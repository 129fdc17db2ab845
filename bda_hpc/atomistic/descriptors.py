"""Behler–Parrinello symmetry functions (REFERENCES.md §4): the set, and a slow NumPy twin.

The compiled core (csrc/nnp/nnp.c) evaluates these for inference and training; the
function :func:`descriptors_reference` here is the obviously-correct loop version that
the tests compare the core with.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DescriptorSet:
    """Cutoff (Å), G2 (eta Å^-2, rs Å) and G4 (eta Å^-2, zeta, lambda) parameters."""

    cutoff: float
    g2: np.ndarray = field(repr=False)  # (n2, 2): eta, rs
    g4: np.ndarray = field(repr=False)  # (n4, 3): eta, zeta, lambda

    @property
    def size(self) -> int:
        return len(self.g2) + len(self.g4)

    @classmethod
    def from_grid(cls, cutoff, g2_centered_eta, g2_shifted_rs, g2_shifted_eta, g4_eta, g4_zeta, g4_lambda):
        """Centred G2 (rs = 0) per eta, shifted G2 per rs, and every G4 (eta, zeta, lambda) combination."""
        g2 = [(eta, 0.0) for eta in g2_centered_eta] + [(g2_shifted_eta, rs) for rs in g2_shifted_rs]
        g4 = list(itertools.product(g4_eta, g4_zeta, g4_lambda))
        return cls(float(cutoff), np.array(g2, float).reshape(-1, 2), np.array(g4, float).reshape(-1, 3))

    def problems(self) -> list[str]:
        out = []
        if not self.cutoff > 0:
            out.append(f"cutoff: must be positive, got {self.cutoff}")
        if self.size == 0:
            out.append("descriptors: the set is empty")
        if len(self.g4) and (np.any(self.g4[:, 1] < 1) or np.any(np.abs(self.g4[:, 2]) != 1)):
            out.append("g4: zeta must be >= 1 and lambda +1 or -1")
        if np.any(self.g2[:, 0] < 0) or (len(self.g4) and np.any(self.g4[:, 0] < 0)):
            out.append("eta: must be >= 0")
        return out


def cutoff_function(r, rc):
    return np.where(r < rc, 0.5 * (np.cos(np.pi * r / rc) + 1.0), 0.0)


def descriptors_reference(positions, cell, pbc, dset: DescriptorSet) -> np.ndarray:
    """Raw (unscaled) G2 and G4 of every atom by explicit loops over periodic images."""
    positions = np.asarray(positions, float)
    cell = np.asarray(cell, float)
    rc = dset.cutoff
    # enough images along each periodic axis to reach rc (distance between lattice planes)
    recip = np.linalg.inv(cell).T
    reach = [int(np.ceil(rc * np.linalg.norm(recip[k]))) + 1 if pbc[k] else 0 for k in range(3)]
    shifts = np.array(list(itertools.product(*[range(-n, n + 1) for n in reach])), float) @ cell
    out = np.zeros((len(positions), dset.size))
    n2 = len(dset.g2)
    for i, ri in enumerate(positions):
        vecs = (positions[None, :, :] + shifts[:, None, :] - ri).reshape(-1, 3)
        dist = np.linalg.norm(vecs, axis=1)
        keep = (dist > 1e-12) & (dist < rc)
        vecs, dist = vecs[keep], dist[keep]
        fc = cutoff_function(dist, rc)
        for a, (eta, rs) in enumerate(dset.g2):
            out[i, a] = np.sum(np.exp(-eta * (dist - rs) ** 2) * fc)
        for j in range(len(dist)):
            for k in range(j + 1, len(dist)):
                rjk = np.linalg.norm(vecs[k] - vecs[j])
                if rjk >= rc or rjk == 0.0:
                    continue
                cos = vecs[j] @ vecs[k] / (dist[j] * dist[k])
                f3 = fc[j] * fc[k] * cutoff_function(rjk, rc)
                for a, (eta, zeta, lam) in enumerate(dset.g4):
                    out[i, n2 + a] += (
                        2.0 ** (1 - zeta)
                        * (1 + lam * cos) ** zeta
                        * np.exp(-eta * (dist[j] ** 2 + dist[k] ** 2 + rjk**2))
                        * f3
                    )
    return out
