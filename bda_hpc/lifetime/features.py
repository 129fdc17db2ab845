"""Early-cycle features for cycle-life prediction.

The central signal is ΔQ(V) = Q_late(V) − Q_early(V), the change of the
discharge curve between two early cycles (Severson et al. 2019: cycles 100 and
10). Summary statistics of ΔQ are taken on a log scale (they span decades);
capacity-fade features ignore outlier cycles (see :mod:`quality`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from ..errors import InputError
from .data import Cell
from .quality import outlier_mask

TINY = 1e-12   # keeps log10 finite for a flat ΔQ


def _log10_abs(x) -> float:
    return float(np.log10(abs(x) + TINY))


def _delta_q(cell: Cell, late: int, early: int) -> np.ndarray:
    return cell.curve(late) - cell.curve(early)


def _clean_capacity(cell: Cell, first: int, last: int) -> np.ndarray:
    """Discharge capacity of cycles first..last (NaN where missing or an outlier)."""
    q = np.where(outlier_mask(cell.discharge_capacity), np.nan, cell.discharge_capacity)
    out = np.full(last - first + 1, np.nan)
    inside = (cell.cycle >= first) & (cell.cycle <= last)
    out[cell.cycle[inside] - first] = q[inside]
    return out


def _fade_slope(cell: Cell, first: int, last: int) -> float:
    """Linear fade rate (Ah/cycle) over cycles first..last, outliers ignored."""
    q = _clean_capacity(cell, first, last)
    ok = np.isfinite(q)
    if ok.sum() < 3:
        raise InputError(f"cell {cell.cell_id}: fewer than 3 usable cycles in {first}..{last} for a fade slope")
    return float(np.polyfit(np.arange(first, last + 1)[ok], q[ok], 1)[0])


def _q_first(cell: Cell) -> float:
    q = _clean_capacity(cell, int(cell.cycle.min()), int(cell.cycle.min()) + 4)
    return float(np.nanmedian(q))


def _q_window(cell: Cell, centre: int) -> float:
    q = _clean_capacity(cell, centre - 2, centre + 2)
    if not np.isfinite(q).any():
        raise InputError(f"cell {cell.cell_id}: no usable discharge capacity around cycle {centre}")
    return float(np.nanmedian(q))


def _q_initial(cell: Cell) -> float:
    """Discharge capacity of the first recorded cycle (cycle 2 in the Severson data), the first usable
    one when that is an outlier."""
    q = _clean_capacity(cell, int(cell.cycle.min()), int(cell.cycle.max()))
    usable = np.flatnonzero(np.isfinite(q))
    if usable.size == 0:
        raise InputError(f"cell {cell.cell_id}: no usable discharge capacity")
    return float(q[usable[0]])


def _q_max(cell: Cell, late: int) -> float:
    """Largest usable discharge capacity from the first recorded cycle to ``late``."""
    return float(np.nanmax(_clean_capacity(cell, int(cell.cycle.min()), late)))


def _second_reference(early: int, late: int) -> int:
    """A second early cycle for ΔQ (20 for 10/100): later than ``early``, still far from ``late``."""
    return min(2 * early, (early + late) // 2)


def feature_table(early: int, late: int) -> dict[str, Callable[[Cell], float]]:
    """Name -> function of a cell, for ΔQ between cycles ``late`` and ``early``."""
    mid = _second_reference(early, late)
    return {
        "log_var_dq": lambda c: _log10_abs(np.var(_delta_q(c, late, early))),
        "log_min_dq": lambda c: _log10_abs(np.min(_delta_q(c, late, early))),
        "log_mean_dq": lambda c: _log10_abs(np.mean(_delta_q(c, late, early))),
        "log_skew_dq": lambda c: _log10_abs(stats.skew(_delta_q(c, late, early))),
        "log_kurt_dq": lambda c: _log10_abs(stats.kurtosis(_delta_q(c, late, early))),
        # MATLAB's kurtosis (Pearson's, 3 for a normal distribution), as in Severson et al.'s code; the
        # scipy default above is the excess kurtosis, 3 less, whose |.| on a log scale is a different feature
        "log_kurt_dq_pearson": lambda c: _log10_abs(stats.kurtosis(_delta_q(c, late, early), fisher=False)),
        "log_var_dq_mid": lambda c: _log10_abs(np.var(_delta_q(c, late, mid))),
        "q_first": _q_first,
        "q_max_minus_first": lambda c: _q_max(c, late) - _q_first(c),
        # Severson et al.'s capacity features: cycle 2 and max over cycles 2..late minus cycle 2
        "q_initial": _q_initial,
        "q_max_minus_initial": lambda c: _q_max(c, late) - _q_initial(c),
        "q_late_minus_early": lambda c: _q_window(c, late - 2) - _q_window(c, early),
        "fade_slope_late": lambda c: _fade_slope(c, late - 9, late),
    }


def required_cycles(early: int, late: int) -> list[int]:
    """Cycles whose Q(V) curve the features need."""
    return sorted({early, late, _second_reference(early, late)})


def feature_matrix(cells: Sequence[Cell], names: Sequence[str], early: int = 10, late: int = 100,
                   curve_points: int = 0) -> np.ndarray:
    """Rows: cells; columns: the named features, then ``curve_points`` samples of ΔQ(V) (Ah)."""
    table = feature_table(early, late)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise InputError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(table)}")
    rows = []
    for cell in cells:
        row = [table[n](cell) for n in names]
        if curve_points:
            dq = _delta_q(cell, late, early)
            row += list(dq[np.linspace(0, dq.size - 1, curve_points).round().astype(int)])
        rows.append(row)
    matrix = np.asarray(rows, dtype=float).reshape(len(cells), -1)
    bad = ~np.all(np.isfinite(matrix), axis=1)
    if bad.any():
        raise InputError(f"non-finite features for cell {cells[int(np.flatnonzero(bad)[0])].cell_id}")
    return matrix


def column_names(names: Sequence[str], curve_points: int) -> list[str]:
    return list(names) + [f"dq_curve_{k}" for k in range(curve_points)]
