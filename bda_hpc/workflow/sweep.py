"""Gather the runs of a sweep into one HDF5 table: one row per case, the swept values beside the results.

``RUN_DIR/<stage>/<stage>_sweep.h5`` is a parameter file (stage ``"sweep"``)
whose ``/results/sweep`` group holds one column per swept key and one per
scalar parameter the cases wrote (with units), plus ``case_dir``. Its
``/meta`` inputs list every case's file with its hash, so the report can
trace the table back to the runs.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import ParameterFileError
from ..io.params import Parameter, read_params, write_params
from .plan import SWEEP_TABLE_SUFFIX, PlannedStage

SWEEP_STAGE = "sweep"


def _column(values: list):
    """A column HDF5 can store: floats for numbers and booleans, fixed-length bytes for anything else."""
    if all(isinstance(v, (int, float, bool)) for v in values):
        return np.asarray(values, dtype=float)
    return np.asarray([str(v) for v in values], dtype="S")


def case_parameter_files(stage: PlannedStage, case: int) -> list[Path]:
    return [stage.case_dir(case) / name for name in stage.outputs if name.endswith(".h5")]


def gather_sweep(stage: PlannedStage) -> Path:
    """Write the table for a finished sweep and a CSV copy beside it; returns the table's path."""
    keys = list(stage.cases[0])
    rows: list[dict[str, Parameter]] = []
    inputs: list[Path] = []
    for case in range(len(stage.cases)):
        row: dict[str, Parameter] = {}
        for path in case_parameter_files(stage, case):
            inputs.append(path)
            for name, p in read_params(path).parameters.items():
                if np.ndim(p.value) == 0 and not isinstance(p.value, (str, bytes)):
                    row[name] = p
        rows.append(row)
    names = sorted(set().union(*rows)) if rows else []
    columns: dict = {k: _column([c[k] for c in stage.cases]) for k in keys}
    for name in names:
        units = {row[name].units for row in rows if name in row}
        if len(units) > 1:
            raise ParameterFileError(f"sweep {stage.name!r}: parameter {name!r} has different units across "
                                     f"cases ({', '.join(sorted(units))})")
        values = [float(row[name].value) if name in row else np.nan for row in rows]
        columns[name] = (np.asarray(values), units.pop())
    columns["case_dir"] = _column([str(stage.case_dir(i)) for i in range(len(stage.cases))])
    out = Path(stage.out_dir) / f"{stage.name}{SWEEP_TABLE_SUFFIX}"
    write_params(out, SWEEP_STAGE, {}, results={"sweep": columns, "swept_keys": _column(keys)},
                 inputs=inputs)
    _write_csv(out.with_suffix(".csv"), keys, names, stage.cases, rows)
    return out


def _write_csv(path: Path, keys: list[str], names: list[str], cases: list[dict], rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        header = keys + [f"{n} [{next(r[n].units for r in rows if n in r)}]" for n in names]
        writer.writerow(header)
        for case, row in zip(cases, rows):
            writer.writerow([case[k] for k in keys] + [row[n].value if n in row else "" for n in names])
    tmp.replace(path)


def read_sweep_table(path: str | Path) -> tuple[list[str], dict[str, np.ndarray], dict[str, str]]:
    """(swept keys, columns, units of the result columns) of a gathered table."""
    import h5py

    with h5py.File(path, "r") as f:
        keys = [k.decode() for k in f["results/swept_keys"][()]]
        group = f["results/sweep"]
        columns = {name: group[name][()] for name in group}
        units = {name: str(group[name].attrs["units"]) for name in group if "units" in group[name].attrs}
    return keys, columns, units
