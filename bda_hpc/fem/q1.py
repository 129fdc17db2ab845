"""Trilinear (Q1) hexahedron on an axis-aligned box: element matrices and quadrature.

Corner ``b`` of the reference cube [0, 1]^3 is ``(b >> 2, (b >> 1) & 1, b & 1)``
in array-axis order (0, 1, 2), the order the compiled kernels use.
"""
from __future__ import annotations

import numpy as np

_STIFF_1D = np.array([[1.0, -1.0], [-1.0, 1.0]])
_MASS_1D = np.array([[2.0, 1.0], [1.0, 2.0]]) / 6.0


def _kron3(a0, a1, a2) -> np.ndarray:
    return np.ascontiguousarray(np.kron(np.kron(a0, a1), a2))


def stiffness(spacing) -> np.ndarray:
    """8x8 Laplacian stiffness of a box with edge lengths ``spacing`` (axes 0, 1, 2).

    The tensor-product form: K = sum_d vol / h_d^2 (k on axis d, m on the others),
    with the 1D stiffness k and mass m of the unit interval.
    """
    h = np.asarray(spacing, dtype=float)
    vol = float(np.prod(h))
    factors = [[_STIFF_1D if d == axis else _MASS_1D for d in range(3)] for axis in range(3)]
    return sum(vol / h[axis] ** 2 * _kron3(*factors[axis]) for axis in range(3))


def mass(spacing) -> np.ndarray:
    """8x8 consistent mass matrix of a box with edge lengths ``spacing``."""
    return float(np.prod(spacing)) * _kron3(_MASS_1D, _MASS_1D, _MASS_1D)


def corners() -> np.ndarray:
    """(8, 3) corner offsets in the kernel order."""
    return np.array([(b >> 2, (b >> 1) & 1, b & 1) for b in range(8)])


def gauss_points(order: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss-Legendre points on [0, 1]^3 (shape (n, 3)) and weights (sum 1)."""
    x, w = np.polynomial.legendre.leggauss(order)
    x, w = (x + 1) / 2, w / 2
    pts = np.stack(np.meshgrid(x, x, x, indexing="ij"), axis=-1).reshape(-1, 3)
    wts = np.einsum("i,j,k->ijk", w, w, w).ravel()
    return pts, wts


def shape_values(points: np.ndarray) -> np.ndarray:
    """(n, 8) values of the 8 trilinear shape functions at reference points."""
    c = corners()
    p = points[:, None, :]
    return np.prod(np.where(c[None] == 1, p, 1 - p), axis=2)
