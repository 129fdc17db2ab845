"""Synthetic electrodes: overlapping polydisperse particles dropped at random until a target porosity.

Particle radii follow a log-normal size distribution given by its mean and
standard deviation (in metres); ellipsoids have semi-axes ``r * aspect``
(normalised to the volume of the sphere of radius r) and a uniformly random
orientation. Particles may overlap, which keeps the active phase connected
as in calendered electrodes; placement stops at the first particle that
brings the active fraction to its target, so the porosity lands within one
particle volume of the request. The carbon-binder domain (CBD) then fills the
pore voxels with the most active material around them (necks and crevices
first), up to its volume fraction. Everything draws from one
``numpy.random.Generator`` seeded by ``seed``: same inputs, same voxels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from ..errors import InputError
from . import ACTIVE, CBD, PORE


@dataclass
class ParticleSpec:
    """What to generate; lengths in metres."""

    shape: list[int] = field(default_factory=lambda: [64, 64, 64])
    voxel_size: float = 0.5e-6
    porosity: float = 0.35
    particle_shape: str = "sphere"   # "sphere" or "ellipsoid"
    radius_mean: float = 3.0e-6
    radius_std: float = 0.6e-6
    aspect: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    cbd_fraction: float = 0.0
    seed: int = 0

    def validate(self) -> list[str]:
        problems = []
        if len(self.shape) != 3 or min(self.shape) < 2:
            problems.append(f"shape: need three sizes >= 2, got {self.shape}")
        if not self.voxel_size > 0:
            problems.append(f"voxel_size: must be positive, got {self.voxel_size}")
        if not 0 < self.porosity < 1:
            problems.append(f"porosity: must lie in (0, 1), got {self.porosity}")
        if self.particle_shape not in ("sphere", "ellipsoid"):
            problems.append(f"particle_shape: must be 'sphere' or 'ellipsoid', got {self.particle_shape!r}")
        if not self.radius_mean > 0 or self.radius_std < 0:
            problems.append(f"radius_mean/radius_std: need mean > 0 and std >= 0, got {self.radius_mean}, "
                            f"{self.radius_std}")
        elif self.radius_mean < self.voxel_size:
            problems.append(f"radius_mean: {self.radius_mean} m is below one voxel ({self.voxel_size} m)")
        if len(self.aspect) != 3 or min(self.aspect) <= 0:
            problems.append(f"aspect: need three positive ratios, got {self.aspect}")
        if not 0 <= self.cbd_fraction < 1 - self.porosity:
            problems.append(f"cbd_fraction: must lie in [0, 1 - porosity), got {self.cbd_fraction}")
        return problems


@numba.njit(cache=True)
def paint_ellipsoid(labels, center, inv_shape, label):
    """Set pore voxels (label 0) whose centre x satisfies (x-c)^T Q (x-c) <= 1 to ``label``.

    ``inv_shape`` is Q = R diag(1/a^2) R^T in voxel units. Returns how many
    voxels changed. Voxel (i, j, k) has its centre at (i + 0.5, j + 0.5, k + 0.5).
    """
    # Bounding box half-widths of the ellipsoid: sqrt of the diagonal of Q^-1.
    inv = np.linalg.inv(inv_shape)
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    for d in range(3):
        half = np.sqrt(inv[d, d])
        lo[d] = max(0, int(np.floor(center[d] - half - 0.5)))
        hi[d] = min(labels.shape[d], int(np.ceil(center[d] + half + 0.5)))
    changed = 0
    for i in range(lo[0], hi[0]):
        x0 = i + 0.5 - center[0]
        for j in range(lo[1], hi[1]):
            x1 = j + 0.5 - center[1]
            for k in range(lo[2], hi[2]):
                x2 = k + 0.5 - center[2]
                q = (inv_shape[0, 0] * x0 * x0 + inv_shape[1, 1] * x1 * x1 + inv_shape[2, 2] * x2 * x2
                     + 2.0 * (inv_shape[0, 1] * x0 * x1 + inv_shape[0, 2] * x0 * x2 + inv_shape[1, 2] * x1 * x2))
                if q <= 1.0 and labels[i, j, k] == 0:
                    labels[i, j, k] = label
                    changed += 1
    return changed


def lognormal_radii(rng: np.random.Generator, mean: float, std: float, n: int) -> np.ndarray:
    """n radii with the given mean and standard deviation (log-normal; std 0 gives all equal)."""
    if std == 0:
        return np.full(n, mean)
    sigma2 = np.log1p((std / mean) ** 2)
    return rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), n)


def shape_matrix(radius: float, aspect, rotation: np.ndarray) -> np.ndarray:
    """Q = R diag(1 / a_i^2) R^T for semi-axes a = radius * aspect / cbrt(prod(aspect))."""
    aspect = np.asarray(aspect, dtype=float)
    semi = radius * aspect / np.cbrt(np.prod(aspect))
    return rotation @ np.diag(1.0 / semi**2) @ rotation.T


def generate(spec: ParticleSpec) -> np.ndarray:
    """Labelled voxel image (uint8: 0 pore, 1 active, 2 CBD) of shape ``spec.shape``."""
    problems = spec.validate()
    if problems:
        raise InputError("synthetic electrode: " + "; ".join(problems), collective=True)
    rng = np.random.default_rng(spec.seed)
    shape = tuple(spec.shape)
    labels = np.zeros(shape, dtype=np.uint8)
    target = round((1.0 - spec.porosity - spec.cbd_fraction) * labels.size)
    filled, placed = 0, 0
    r_voxels = spec.radius_mean / spec.voxel_size
    max_particles = 100 * labels.size / (4.0 / 3.0 * np.pi * r_voxels**3) + 1000
    while filled < target:
        if placed > max_particles:
            raise InputError(f"synthetic electrode: could not reach porosity {spec.porosity} with "
                             f"{placed} particles", collective=True)
        radius = lognormal_radii(rng, spec.radius_mean, spec.radius_std, 1)[0] / spec.voxel_size
        center = rng.uniform(0.0, 1.0, 3) * np.array(shape)
        rotation = (Rotation.random(random_state=rng).as_matrix() if spec.particle_shape == "ellipsoid"
                    else np.eye(3))
        aspect = spec.aspect if spec.particle_shape == "ellipsoid" else (1.0, 1.0, 1.0)
        filled += paint_ellipsoid(labels, center, shape_matrix(radius, aspect, rotation), ACTIVE)
        placed += 1
    if spec.cbd_fraction > 0:
        add_binder(labels, round(spec.cbd_fraction * labels.size), rng)
    return labels


def add_binder(labels: np.ndarray, n_voxels: int, rng: np.random.Generator) -> None:
    """Turn the ``n_voxels`` pore voxels with the most active material nearby into CBD (in place)."""
    crowding = ndimage.gaussian_filter((labels == ACTIVE).astype(np.float32), sigma=1.5, mode="nearest")
    crowding += 1e-3 * rng.random(labels.shape, dtype=np.float32)  # reproducible tie-break
    pore = np.flatnonzero(labels.ravel() == PORE)
    n_voxels = min(n_voxels, pore.size)
    chosen = pore[np.argpartition(-crowding.ravel()[pore], n_voxels - 1)[:n_voxels]]
    labels.ravel()[chosen] = CBD
