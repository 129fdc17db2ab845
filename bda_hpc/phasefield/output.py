"""Stage outputs on rank 0: the time series (CSV + HDF5) and PNG snapshots of gathered 2D fields."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np


class TimeSeries:
    """Rows of named scalars, kept in memory (and in checkpoints) and rewritten atomically."""

    def __init__(self, columns: list[tuple[str, str]], rows=None):
        self.columns = columns  # (name, units)
        self.rows: list[list[float]] = [list(r) for r in (rows or [])]

    def append(self, values: dict) -> None:
        self.rows.append([float(values[name]) for name, _ in self.columns])

    def column(self, name: str) -> np.ndarray:
        i = [c for c, _ in self.columns].index(name)
        return np.array([r[i] for r in self.rows])

    def write(self, directory: Path, stem: str = "timeseries") -> None:
        import h5py

        csv_path = directory / f"{stem}.csv"
        tmp = csv_path.with_name(f".{csv_path.name}.tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([f"{name} [{units}]" for name, units in self.columns])
            writer.writerows([[f"{v:.10g}" for v in row] for row in self.rows])
        os.replace(tmp, csv_path)
        h5_path = directory / f"{stem}.h5"
        tmp = h5_path.with_name(f".{h5_path.name}.tmp")
        with h5py.File(tmp, "w") as f:
            for name, units in self.columns:
                ds = f.create_dataset(name, data=self.column(name))
                ds.attrs["units"] = units
        os.replace(tmp, h5_path)


def gather_plane(grid, local: np.ndarray, comm) -> np.ndarray | None:
    """The whole (ny, nx) field on rank 0 (3D: the mid-z plane); None elsewhere."""
    k_mid = grid.cells[2] // 2 if grid.dim == 3 else 0
    z0 = grid.own_start[0]
    piece = None
    if z0 <= k_mid < z0 + grid.own_size[0]:
        piece = (grid.own_start[1], grid.own_start[2], local[k_mid - z0])
    pieces = comm.gather(piece, root=0)
    if comm.rank != 0:
        return None
    full = np.zeros((grid.cells[1], grid.cells[0]))
    for item in pieces:
        if item is not None:
            y0, x0, arr = item
            full[y0:y0 + arr.shape[0], x0:x0 + arr.shape[1]] = arr
    return full


def snapshot_png(path: Path, planes: dict, spacing, title: str, length_unit: str = "µm") -> None:
    """Side-by-side images of gathered planes (rank 0 only); ``length_unit`` "" for dimensionless models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(planes), figsize=(5 * len(planes), 4.2), squeeze=False)
    for ax, (name, data) in zip(axes[0], planes.items()):
        extent = [0, data.shape[1] * spacing[0], 0, data.shape[0] * spacing[1]]
        im = ax.imshow(data, origin="lower", extent=extent, cmap="viridis", aspect="equal")
        ax.set_title(name)
        ax.set_xlabel(f"x ({length_unit})" if length_unit else "x")
        ax.set_ylabel(f"y ({length_unit})" if length_unit else "y")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
