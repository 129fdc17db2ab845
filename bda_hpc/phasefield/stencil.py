"""Numba building blocks shared by the model kernels: face gradients and the anisotropic gradient flux.

Conventions (all kernels): ``u`` is the ghosted local array ``(gz, gy, gx, dof)``,
cell ``(k, j, i)`` indexes it directly, axes are numbered in array order
(0 = z, 1 = y, 2 = x), ``h`` is the spacing in that order and ``dim`` is 2 or
3 (in 2D the z axis has one layer and no neighbours).

Anisotropic gradient energy (four-fold in 2D, cubic in 3D, REFERENCES §1/§2)::

    a(p) = ½ ε(n)² |p|²,   ε(n) = ε0 (1 - 3δ) [1 + k Σ n_i⁴],   k = 4δ / (1 - 3δ),   n = p/|p|

In 2D with n = (cos θ, sin θ), Σ n_i⁴ = (3 + cos 4θ)/4, so ε = ε0 [1 + δ cos 4θ]:
the Kobayashi form with ω = 4, θ0 = 0. The flux is q = ∂a/∂p and because a is
homogeneous of degree 2, q = H p with H = ∂²a/∂p² (homogeneous of degree 0,
bounded at p = 0). The variational derivative of ∫a dV is -∇·q, discretised
as a difference of face fluxes; each face gradient uses the normal difference
and the average of the two neighbouring central differences across it.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def oidx(dz, dy, dx):
    """Stencil offset number, see :mod:`sparsity`."""
    return ((dz + 1) * 3 + (dy + 1)) * 3 + (dx + 1)


@njit(cache=True)
def first_axis(dim):
    """Array axes that carry neighbours: (z, y, x) in 3D, (y, x) in 2D."""
    return 0 if dim == 3 else 1


@njit(cache=True)
def cubic_hessian(p, eps0, delta, H):
    """H = ∂²a/∂p² of the cubic anisotropic gradient energy at gradient p (3-vector); q = H p."""
    C = 0.5 * eps0 * eps0 * (1.0 - 3.0 * delta) ** 2
    k = 4.0 * delta / (1.0 - 3.0 * delta)
    r2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2]
    if r2 < 1e-30:
        n = (0.0, 0.0, 1.0)  # H is degree-0 homogeneous: any direction is a valid limit, take the x axis
    else:
        rinv = 1.0 / np.sqrt(r2)
        n = (p[0] * rinv, p[1] * rinv, p[2] * rinv)
    # in terms of the unit normal (r = 1): u = Σ n⁴, u_i = 4 n_i³ - 4 u n_i,
    # u_ij = δ_ij (12 n_i² - 4 u) - 16 (n_i³ n_j + n_j³ n_i) + 24 u n_i n_j
    s4 = n[0] ** 4 + n[1] ** 4 + n[2] ** 4
    g = 1.0 + k * s4
    ui = (4.0 * n[0] ** 3 - 4.0 * s4 * n[0], 4.0 * n[1] ** 3 - 4.0 * s4 * n[1], 4.0 * n[2] ** 3 - 4.0 * s4 * n[2])
    for a in range(3):
        for b in range(3):
            uab = -16.0 * (n[a] ** 3 * n[b] + n[b] ** 3 * n[a]) + 24.0 * s4 * n[a] * n[b]
            if a == b:
                uab += 12.0 * n[a] * n[a] - 4.0 * s4
            H[a, b] = C * (2.0 * g * g * (1.0 if a == b else 0.0)
                           + 4.0 * g * k * (n[a] * ui[b] + n[b] * ui[a])
                           + 2.0 * k * k * ui[a] * ui[b] + 2.0 * g * k * uab)


@njit(cache=True)
def cubic_factor(p, delta):
    """ε(n)/ε0 and its gradient with respect to p as a 3-tuple (zero gradient at p = 0)."""
    k = 4.0 * delta / (1.0 - 3.0 * delta)
    r2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2]
    if r2 < 1e-30:
        return (1.0 - 3.0 * delta) * (1.0 + k), (0.0, 0.0, 0.0)
    r4 = r2 * r2
    s4 = p[0] ** 4 + p[1] ** 4 + p[2] ** 4
    c = (1.0 - 3.0 * delta) * k
    grad = (c * (4.0 * p[0] ** 3 / r4 - 4.0 * s4 * p[0] / (r4 * r2)),
            c * (4.0 * p[1] ** 3 / r4 - 4.0 * s4 * p[1] / (r4 * r2)),
            c * (4.0 * p[2] ** 3 / r4 - 4.0 * s4 * p[2] / (r4 * r2)))
    return (1.0 - 3.0 * delta) * (1.0 + k * s4 / r4), grad


@njit(cache=True, inline="always")
def unit_step(ax):
    """(dz, dy, dx) of one cell along array axis ax; a tuple, since a heap array per call in the cell loops
    cost more than the arithmetic (session 6)."""
    return (ax == 0) * 1, (ax == 1) * 1, (ax == 2) * 1


@njit(cache=True)
def face_gradient(u, f, k, j, i, ax, h, dim, p):
    """Gradient of field f on the face between cell (k, j, i) and its + neighbour along axis ax."""
    e = unit_step(ax)
    p[0] = 0.0
    p[1] = 0.0
    p[2] = 0.0
    p[ax] = (u[k + e[0], j + e[1], i + e[2], f] - u[k, j, i, f]) / h[ax]
    for b in range(first_axis(dim), 3):
        if b == ax:
            continue
        t = unit_step(b)
        p[b] = (u[k + t[0], j + t[1], i + t[2], f] + u[k + e[0] + t[0], j + e[1] + t[1], i + e[2] + t[2], f]
                - u[k - t[0], j - t[1], i - t[2], f]
                - u[k + e[0] - t[0], j + e[1] - t[1], i + e[2] - t[2], f]) / (4.0 * h[b])


@njit(cache=True)
def central_gradient(u, f, k, j, i, h, dim, p):
    p[0] = 0.0
    p[1] = 0.0
    p[2] = 0.0
    for b in range(first_axis(dim), 3):
        t = unit_step(b)
        p[b] = (u[k + t[0], j + t[1], i + t[2], f] - u[k - t[0], j - t[1], i - t[2], f]) / (2.0 * h[b])


@njit(cache=True)
def laplacian(u, f, k, j, i, h, dim):
    """Five- (seven-) point Laplacian of field f at cell (k, j, i)."""
    lap = 0.0
    for ax in range(first_axis(dim), 3):
        dk, dj, di = unit_step(ax)
        lap += (u[k + dk, j + dj, i + di, f] - 2.0 * u[k, j, i, f] + u[k - dk, j - dj, i - di, f]) / h[ax] ** 2
    return lap


@njit(cache=True)
def aniso_divergence(u, f, k, j, i, h, dim, eps0, delta, p, H):
    """∇·q of field f at cell (k, j, i); p (3) and H (3×3) are the caller's scratch arrays."""
    div = 0.0
    for ax in range(first_axis(dim), 3):
        e = unit_step(ax)
        for side in range(2):
            s = 1.0 if side == 1 else -1.0
            bk, bj, bi = k - (1 - side) * e[0], j - (1 - side) * e[1], i - (1 - side) * e[2]
            face_gradient(u, f, bk, bj, bi, ax, h, dim, p)
            cubic_hessian(p, eps0, delta, H)
            q = H[ax, 0] * p[0] + H[ax, 1] * p[1] + H[ax, 2] * p[2]
            div += s * q / h[ax]
    return div


@njit(cache=True)
def aniso_divergence_jac(u, f, k, j, i, h, dim, eps0, delta, coef, vals, base, slot, r, p, H):
    """Add coef · ∂(∇·q)/∂u_f at the box neighbours of (k, j, i) into row r (starting at vals[base]);
    p (3) and H (3×3) are the caller's scratch arrays."""
    for ax in range(first_axis(dim), 3):
        e = unit_step(ax)
        for side in range(2):
            s = 1.0 if side == 1 else -1.0
            lo = side - 1  # offset of the face's lower cell relative to (k, j, i): -1 or 0
            face_gradient(u, f, k + lo * e[0], j + lo * e[1], i + lo * e[2], ax, h, dim, p)
            cubic_hessian(p, eps0, delta, H)
            w = coef * s / h[ax]
            # normal component: (u[lower + e] - u[lower]) / h
            c = w * H[ax, ax] / h[ax]
            vals[base + slot[r, oidx((lo + 1) * e[0], (lo + 1) * e[1], (lo + 1) * e[2]), f]] += c
            vals[base + slot[r, oidx(lo * e[0], lo * e[1], lo * e[2]), f]] -= c
            for b in range(first_axis(dim), 3):
                if b == ax:
                    continue
                t = unit_step(b)
                c = w * H[ax, b] / (4.0 * h[b])
                for d in range(2):  # lower cell and upper cell of the face
                    oz, oy, ox = (lo + d) * e[0], (lo + d) * e[1], (lo + d) * e[2]
                    vals[base + slot[r, oidx(oz + t[0], oy + t[1], ox + t[2]), f]] += c
                    vals[base + slot[r, oidx(oz - t[0], oy - t[1], ox - t[2]), f]] -= c


@njit(cache=True)
def aniso_energy(u, f, h, off, own, dim, eps0, delta):
    """Σ over owned cells' upper faces of a(p_face) · cell volume / dim (each face once)."""
    p = np.empty(3)
    H = np.empty((3, 3))
    vol = h[1] * h[2] * (h[0] if dim == 3 else 1.0)
    total = 0.0
    for k in range(off[0], off[0] + own[0]):
        for j in range(off[1], off[1] + own[1]):
            for i in range(off[2], off[2] + own[2]):
                for ax in range(first_axis(dim), 3):
                    face_gradient(u, f, k, j, i, ax, h, dim, p)
                    cubic_hessian(p, eps0, delta, H)
                    a = 0.0
                    for m in range(3):
                        for n in range(3):
                            a += 0.5 * p[m] * H[m, n] * p[n]
                    total += a * vol / dim
    return total
