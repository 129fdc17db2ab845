"""Morphology of a labelled voxel image: volume fractions, specific surface area, connectivity."""
from __future__ import annotations

import numpy as np

from ..fem.transport import percolating

# Counting voxel faces overestimates the area of a smooth, randomly oriented
# surface by 3/2 on average (Cauchy-Crofton); this factor undoes it.
ISOTROPIC_FACE_FACTOR = 2.0 / 3.0


def volume_fraction(image: np.ndarray, label: int) -> float:
    return float(np.mean(image == label))


def interface_faces(mask: np.ndarray) -> int:
    """Number of voxel faces between ``mask`` and the rest (the outer box faces do not count)."""
    mask = np.asarray(mask, dtype=bool)
    return int(sum(np.count_nonzero(np.diff(mask, axis=axis)) for axis in range(3)))


def specific_surface_area(image: np.ndarray, label: int, voxel_size: float) -> float:
    """Interface area of phase ``label`` per total volume (1/m), from corrected voxel face counts."""
    faces = interface_faces(image == label)
    return ISOTROPIC_FACE_FACTOR * faces * voxel_size**2 / (image.size * voxel_size**3)


def connectivity(image: np.ndarray, label: int, connectivity: int = 6) -> dict:
    """Share of the phase in clusters that span the image along each axis, and the number of clusters."""
    from scipy import ndimage

    mask = image == label
    total = max(int(mask.sum()), 1)
    structure = ndimage.generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[connectivity])
    _, n_clusters = ndimage.label(mask, structure=structure)
    spanning = [float(percolating(mask, axis, connectivity).sum()) / total for axis in range(3)]
    return {"clusters": int(n_clusters), "percolating_fraction": spanning}
