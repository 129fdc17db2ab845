"""PNG views of a structure and its transport (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def slices_png(path: Path, labels: np.ndarray, potential: np.ndarray | None, voxel_size: float) -> None:
    """Middle slices normal to x, y, z of the labels, and the x-potential on the middle z slice."""
    plt = _pyplot()
    panels = 4 if potential is not None else 3
    fig, axes = plt.subplots(1, panels, figsize=(4 * panels, 4), constrained_layout=True)
    um = voxel_size * 1e6
    for axis, ax in enumerate(axes[:3]):
        cut = np.take(labels, labels.shape[axis] // 2, axis=axis)
        others = [d for d in range(3) if d != axis]
        extent = (0, labels.shape[others[1]] * um, 0, labels.shape[others[0]] * um)
        ax.imshow(cut, origin="lower", cmap="viridis", extent=extent, interpolation="nearest")
        ax.set_title(f"labels, middle slice normal to {'xyz'[axis]}")
        ax.set_xlabel(f"{'xyz'[others[1]]} (um)")
        ax.set_ylabel(f"{'xyz'[others[0]]} (um)")
    if potential is not None:
        cut = potential[:, :, potential.shape[2] // 2]
        im = axes[3].imshow(np.where(np.isfinite(cut), cut, np.nan), origin="lower", cmap="magma",
                            extent=(0, labels.shape[1] * um, 0, labels.shape[0] * um))
        axes[3].set_title("potential, flux along x (middle z slice)")
        axes[3].set_xlabel("y (um)")
        axes[3].set_ylabel("x (um)")
        fig.colorbar(im, ax=axes[3], shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bruggeman_png(path: Path, porosity, ratio, exponent: float) -> None:
    """sigma_eff / sigma against porosity on log axes, with the fitted eps^b."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
    porosity, ratio = np.asarray(porosity), np.asarray(ratio)
    ax.loglog(porosity, ratio, "o", label="FEM, mean of x, y, z")
    eps = np.linspace(porosity.min() * 0.9, 1.0, 50)
    ax.loglog(eps, eps**exponent, "-", label=f"Bruggeman fit, b = {exponent:.3f}")
    ax.loglog(eps, eps**1.5, ":", label="b = 1.5")
    ax.set_xlabel("porosity")
    ax.set_ylabel("effective conductivity ratio")
    ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
