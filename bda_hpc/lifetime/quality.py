"""Per-cell quality checks: missing or duplicated cycles, outlier cycles, non-monotonic voltage grids.

:func:`check_cell` reports; it never raises. :func:`outlier_mask` is what the
feature code uses to ignore glitch cycles (the Severson export has a few
cycles whose capacity reads ~31 Ah on a 1.1 Ah cell).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .data import Cell

OUTLIER_MIN_AH = 0.01       # deviations below 10 mAh are measurement noise, never outliers
OUTLIER_MAD_FACTOR = 8.0    # and deviations must also exceed 8 robust sigmas of the cell's own noise
OUTLIER_WINDOW = 7          # cycles in the running median the deviation is taken from


@dataclass
class QualityReport:
    cell_id: str
    n_cycles: int
    missing_cycles: list[int] = field(default_factory=list)
    duplicated_cycles: list[int] = field(default_factory=list)
    outlier_cycles: list[int] = field(default_factory=list)
    nonfinite_cycles: list[int] = field(default_factory=list)
    voltage_grid_problem: str = ""
    nonmonotonic_qv_points: int = 0   # Q(V) points where capacity falls as voltage falls (noise or glitch)

    @property
    def ok(self) -> bool:
        return not (self.missing_cycles or self.duplicated_cycles or self.outlier_cycles
                    or self.nonfinite_cycles or self.voltage_grid_problem)

    def summary(self) -> str:
        parts = []
        for name in ("missing_cycles", "duplicated_cycles", "outlier_cycles", "nonfinite_cycles"):
            values = getattr(self, name)
            if values:
                shown = ", ".join(map(str, values[:8])) + (" ..." if len(values) > 8 else "")
                parts.append(f"{len(values)} {name.replace('_', ' ')} ({shown})")
        if self.voltage_grid_problem:
            parts.append(self.voltage_grid_problem)
        return f"{self.cell_id}: " + ("; ".join(parts) if parts else "ok")

    def as_dict(self) -> dict:
        return asdict(self)


def outlier_mask(capacity: np.ndarray) -> np.ndarray:
    """True where a cycle's capacity departs from its running median by more than noise allows."""
    from scipy.ndimage import median_filter

    capacity = np.asarray(capacity, dtype=float)
    finite = np.isfinite(capacity)
    filled = np.where(finite, capacity, np.nanmedian(capacity) if finite.any() else 0.0)
    residual = filled - median_filter(filled, size=OUTLIER_WINDOW, mode="nearest")
    sigma = 1.4826 * np.median(np.abs(residual))
    return finite & (np.abs(residual) > max(OUTLIER_MIN_AH, OUTLIER_MAD_FACTOR * sigma))


def voltage_grid_problem(voltage: np.ndarray | None) -> str:
    """'' for a strictly monotonic, finite grid, else what is wrong with it."""
    if voltage is None:
        return ""
    v = np.asarray(voltage, dtype=float)
    if v.ndim != 1 or v.size < 2:
        return f"voltage grid must be 1-D with at least 2 points, got shape {v.shape}"
    if not np.all(np.isfinite(v)):
        return "voltage grid has non-finite values"
    step = np.diff(v)
    if not (np.all(step > 0) or np.all(step < 0)):
        bad = int(np.flatnonzero(np.sign(step) != np.sign(step[0]))[0]) + 1
        return f"voltage grid is not strictly monotonic (first at index {bad}, {v[bad]:.4g} V)"
    return ""


def check_cell(cell: Cell) -> QualityReport:
    cycles = np.asarray(cell.cycle)
    unique, counts = np.unique(cycles, return_counts=True)
    report = QualityReport(cell.cell_id, int(unique.size))
    report.duplicated_cycles = [int(c) for c in unique[counts > 1]]
    if unique.size:
        expected = np.arange(unique[0], unique[-1] + 1)
        report.missing_cycles = [int(c) for c in np.setdiff1d(expected, unique)]
    capacity = np.asarray(cell.discharge_capacity, dtype=float)
    report.nonfinite_cycles = [int(c) for c in cycles[~np.isfinite(capacity)]]
    report.outlier_cycles = [int(c) for c in cycles[outlier_mask(capacity)]]
    report.voltage_grid_problem = voltage_grid_problem(cell.qv_voltage)
    if cell.qv_capacity is not None and not report.voltage_grid_problem:
        # capacity discharged grows as voltage falls; count drops beyond 1 mAh
        q = cell.qv_capacity if cell.qv_voltage[0] > cell.qv_voltage[-1] else cell.qv_capacity[:, ::-1]
        report.nonmonotonic_qv_points = int(np.sum(np.diff(q, axis=1) < -1e-3))
    return report


def check_cells(cells: list[Cell]) -> list[QualityReport]:
    return [check_cell(c) for c in cells]
