"""Users' own cycler data: CSV or HDF5 in, HDF5 with units out.

CSV (one file, one row per cell and cycle; units in square brackets, any unit
pint converts to the expected dimension, e.g. ``mAh`` or ``C``)::

    cell,cycle,discharge_capacity [Ah]
    A1,1,1.071
    A1,2,1.070

optional columns ``cycle_life [cycle]`` and ``temperature [degC]`` (constant
per cell). Per-cycle Q(V) curves, when present, are a second CSV next to it
named ``<stem>.qv.csv`` in long form, one row per point, the same voltage
grid for every cycle of a cell::

    cell,cycle,voltage [V],capacity [Ah]

HDF5 (what :func:`write_cycler_h5` writes; every dataset has a ``units`` attribute)::

    /cells/<cell>/cycle                 [1]   int
    /cells/<cell>/discharge_capacity    [A*h]
    /cells/<cell>/qv/voltage            [V]   (optional) the voltage grid
    /cells/<cell>/qv/cycle              [1]   cycles that have a curve
    /cells/<cell>/qv/capacity           [A*h] (len(qv/cycle), len(qv/voltage))
    attrs of /cells/<cell>: cycle_life (cycles), temperature_c, group (all optional)
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.hdf5 import open_existing
from ..io.units import registry
from .data import Cell, note_read

_HEADER = re.compile(r"^\s*([^\[]+?)\s*(?:\[([^\]]*)\])?\s*$")
EXPECTED = {"discharge_capacity": "A*h", "cycle_life": "", "temperature": "degC", "voltage": "V", "capacity": "A*h"}


def _scale(units: str | None, column: str, path) -> tuple[float, float]:
    """(factor, offset) converting a column to the expected unit; errors name file and column."""
    expected = EXPECTED[column]
    if units is None or units.strip() in ("", "1", "cycle", "cycles"):
        if expected in ("", "degC"):
            return 1.0, 0.0
        raise InputError(f"{path}: column {column!r} needs units in brackets, e.g. '{column} [{expected}]'")
    ureg = registry()
    try:
        q = ureg.Quantity(0.0, units.strip())
        zero = q.to(expected or "dimensionless").magnitude
        one = ureg.Quantity(1.0, units.strip()).to(expected or "dimensionless").magnitude
    except Exception:
        raise InputError(f"{path}: column {column!r} has units [{units}], which cannot be converted to "
                         f"[{expected}] (unit mismatch)") from None
    return one - zero, zero


def _read_columns(path: Path, required: list[str]) -> dict[str, np.ndarray | list[str]]:
    note_read(path)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise InputError(f"{path}: empty file")
    names, units = [], []
    for head in rows[0]:
        m = _HEADER.match(head)
        names.append(m.group(1).strip() if m else head.strip())
        units.append(m.group(2) if m else None)
    missing = [r for r in required if r not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(rows[0])})")
    body = rows[1:]
    out: dict = {"cell": [r[names.index("cell")].strip() for r in body]}
    for name, unit in zip(names, units):
        if name == "cell":
            continue
        if name not in EXPECTED and name != "cycle":
            raise InputError(f"{path}: unknown column {name!r} (known: cell, cycle, {', '.join(EXPECTED)})")
        k = names.index(name)
        try:
            values = np.array([float(r[k]) if r[k].strip() else np.nan for r in body])
        except (ValueError, IndexError):
            bad = next(i for i, r in enumerate(body) if len(r) <= k or not _is_number(r[k]))
            raise InputError(f"{path}: row {bad + 2} (cell {out['cell'][bad]}): column {name!r} is not a number"
                             ) from None
        if name != "cycle":
            factor, offset = _scale(unit, name, path)
            values = values * factor + offset
        out[name] = values
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return not text.strip()


def _cells_from_csv(path: Path) -> list[Cell]:
    cols = _read_columns(path, ["cell", "cycle", "discharge_capacity"])
    ids = np.array(cols["cell"])
    cells = []
    for cid in dict.fromkeys(cols["cell"]):
        sel = ids == cid
        cycle = cols["cycle"][sel]
        if np.any(np.isnan(cycle)) or np.any(cycle != np.round(cycle)):
            raise InputError(f"{path}: cell {cid}: cycle numbers must be integers")
        order = np.argsort(cycle, kind="stable")
        life = cols.get("cycle_life")
        temp = cols.get("temperature")
        cells.append(Cell(cid, cycle[order].astype(int), cols["discharge_capacity"][sel][order],
                          cycle_life=float(life[sel][0]) if life is not None and np.isfinite(life[sel][0]) else None,
                          temperature_c=float(temp[sel][0]) if temp is not None else None, source=str(path)))
    curves = path.with_name(path.name[:-4] + ".qv.csv")
    if curves.is_file():
        _attach_curves(cells, curves)
    return cells


def _attach_curves(cells: list[Cell], path: Path) -> None:
    cols = _read_columns(path, ["cell", "cycle", "voltage", "capacity"])
    ids = np.array(cols["cell"])
    by_id = {c.cell_id: c for c in cells}
    for cid in dict.fromkeys(cols["cell"]):
        if cid not in by_id:
            raise InputError(f"{path}: cell {cid} has curves but no per-cycle summary")
        sel = ids == cid
        cyc, v, q = cols["cycle"][sel], cols["voltage"][sel], cols["capacity"][sel]
        cycles = np.unique(cyc).astype(int)
        grid = v[cyc == cycles[0]]
        curves = []
        for c in cycles:
            vc = v[cyc == c]
            if vc.size != grid.size or not np.allclose(vc, grid, atol=1e-6):
                raise InputError(f"{path}: cell {cid}: cycle {c} has a voltage grid different from cycle "
                                 f"{cycles[0]} (every cycle of a cell must share one grid)")
            curves.append(q[cyc == c])
        cell = by_id[cid]
        cell.qv_voltage, cell.qv_cycle, cell.qv_capacity = grid, cycles, np.asarray(curves)


def _cells_from_h5(path: Path) -> list[Cell]:

    note_read(path)
    cells = []
    with open_existing(path, "cycler HDF5 file") as f:
        if "cells" not in f:
            raise InputError(f"{path}: no /cells group (see bda_hpc.lifetime.cycler for the format)")
        for cid, g in f["cells"].items():
            def get(name, column, g=g, cid=cid):
                return _dataset(path, g, cid, name, column)

            cell = Cell(cid, get("cycle", None).astype(int), get("discharge_capacity", "discharge_capacity"),
                        group=str(g.attrs.get("group", "")), source=str(path))
            if "cycle_life" in g.attrs:
                cell.cycle_life = float(g.attrs["cycle_life"])
            if "temperature_c" in g.attrs:
                cell.temperature_c = float(g.attrs["temperature_c"])
            if "qv" in g:
                cell.qv_voltage = get("qv/voltage", "voltage")
                cell.qv_cycle = get("qv/cycle", None).astype(int)
                cell.qv_capacity = get("qv/capacity", "capacity")
            cells.append(cell)
    return cells


def _dataset(path: Path, group, cid: str, name: str, column: str | None) -> np.ndarray:
    """One dataset of a cell group, converted to the expected units (``column=None``: a plain count)."""
    if name not in group:
        raise InputError(f"{path}: cell {cid}: dataset {name} missing")
    units = group[name].attrs.get("units")
    factor, offset = _scale(units, column, f"{path}: cell {cid}: {name}") if column else (1.0, 0.0)
    return group[name][()] * factor + offset


def read_cycler(path: str | os.PathLike) -> list[Cell]:
    """Cells of a user cycler file (.csv or .h5/.hdf5), in Ah and V."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cycler file {path} does not exist")
    if path.suffix.lower() == ".csv":
        return _cells_from_csv(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return _cells_from_h5(path)
    raise InputError(f"{path}: unknown cycler file type {path.suffix!r} (use .csv or .h5)")


def write_cycler_h5(path: str | os.PathLike, cells: list[Cell]) -> Path:
    """Write cells in the HDF5 format above, atomically (temporary name, then rename)."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for cell in cells:
                g = f.create_group(f"cells/{cell.cell_id.replace('/', '_')}")
                for name, data, units in (("cycle", cell.cycle, "1"),
                                          ("discharge_capacity", cell.discharge_capacity, "A*h")):
                    g.create_dataset(name, data=data).attrs["units"] = units
                for key, value in (("cycle_life", cell.cycle_life), ("temperature_c", cell.temperature_c)):
                    if value is not None:
                        g.attrs[key] = value
                g.attrs["group"] = cell.group
                if cell.qv_capacity is not None:
                    g.create_dataset("qv/voltage", data=cell.qv_voltage).attrs["units"] = "V"
                    g.create_dataset("qv/cycle", data=cell.qv_cycle).attrs["units"] = "1"
                    g.create_dataset("qv/capacity", data=cell.qv_capacity, compression="gzip").attrs["units"] = "A*h"
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def require_cycles(cell: Cell, first: int, last: int, what: str) -> None:
    """A clear error when cycles first..last are not all present exactly once."""
    cycles = np.asarray(cell.cycle)
    unique, counts = np.unique(cycles, return_counts=True)
    if np.any(counts > 1):
        raise InputError(f"cell {cell.cell_id}: duplicated cycle(s) {', '.join(map(str, unique[counts > 1][:8]))}")
    if cycles.size == 0 or cycles.max() < last:
        have = int(cycles.max()) if cycles.size else 0
        raise InputError(f"cell {cell.cell_id}: has cycles up to {have}, {what} needs {last}")
    gaps = np.setdiff1d(np.arange(first, last + 1), cycles)
    if gaps.size:
        raise InputError(f"cell {cell.cell_id}: gap in the cycle record, cycle(s) "
                         f"{', '.join(map(str, gaps[:8]))}{' ...' if gaps.size > 8 else ''} missing "
                         f"({what} needs every cycle {first}..{last})")


def require_voltage_grid(cell: Cell, grid: np.ndarray, tolerance_v: float = 1e-3) -> None:
    """A clear error when the cell's Q(V) grid differs from the grid a model was trained on."""
    if cell.qv_voltage is None:
        raise InputError(f"cell {cell.cell_id}: no Q(V) curves; the model needs curves on its voltage grid")
    v = np.asarray(cell.qv_voltage)
    if v.size != grid.size or not np.allclose(v, grid, atol=tolerance_v):
        raise InputError(f"cell {cell.cell_id}: voltage grid ({v.size} points, {v[0]:.3f}..{v[-1]:.3f} V) differs "
                         f"from the model's ({grid.size} points, {grid[0]:.3f}..{grid[-1]:.3f} V); "
                         "interpolate the curves onto the model's grid first")
