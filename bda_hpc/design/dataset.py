"""The table of simulations: inputs, scalar outputs, status (failed runs stay in, marked failed), origin.

Stored under ``/results/dataset`` of a parameter file (io.params conventions: units on every column,
``/meta`` provenance); ``read_dataset`` reads it back (resume, reports) and ``from_sweep_table`` turns
a table gathered by the batch driver (``bda_hpc.workflow.sweep``) into a ``Dataset``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterFileError

OK, FAILED = "ok", "failed"


@dataclass
class Dataset:
    input_names: list[str]
    output_names: list[str]
    input_units: list[str]
    output_units: list[str]
    X: np.ndarray = None  # (n, d)
    Y: np.ndarray = None  # (n, m); NaN where the run failed
    status: list[str] = field(default_factory=list)
    message: list[str] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)  # "initial", "batch-3", "verify-3", "random", ...
    seconds: list[float] = field(default_factory=list)
    # surrogate prediction (mean, spread) made when the point was proposed; NaN for sampled points
    P_mean: np.ndarray = None
    P_std: np.ndarray = None

    def __post_init__(self):
        m = len(self.output_names)
        self.X = np.empty((0, len(self.input_names))) if self.X is None else self.X
        self.Y = np.empty((0, m)) if self.Y is None else self.Y
        self.P_mean = np.full(self.Y.shape, np.nan) if self.P_mean is None else self.P_mean
        self.P_std = np.full(self.Y.shape, np.nan) if self.P_std is None else self.P_std

    def __len__(self) -> int:
        return len(self.status)

    def append(self, x: np.ndarray, outputs: dict | None, origin: str, message: str = "", seconds: float = 0.0,
               predicted: dict | None = None):
        """Add one run; ``outputs`` None (or missing/non-finite values) records it as failed.
        ``predicted``: {output: (mean, std)} the surrogate gave for this point before it was simulated."""
        y = np.full(len(self.output_names), np.nan)
        if outputs is not None:
            missing = [n for n in self.output_names if n not in outputs]
            if missing:
                message = message or f"simulation returned no {', '.join(missing)}"
            y = np.array([float(outputs.get(n, np.nan)) for n in self.output_names])
        ok = outputs is not None and np.all(np.isfinite(y))
        if outputs is not None and not ok and not message:
            message = "non-finite output " + ", ".join(n for n, v in zip(self.output_names, y) if not np.isfinite(v))
        self.X = np.vstack([self.X, np.asarray(x, float)[None, :]])
        self.Y = np.vstack([self.Y, y[None, :]])
        pm = np.array([(predicted or {}).get(n, (np.nan, np.nan))[0] for n in self.output_names])
        ps = np.array([(predicted or {}).get(n, (np.nan, np.nan))[1] for n in self.output_names])
        self.P_mean, self.P_std = np.vstack([self.P_mean, pm[None, :]]), np.vstack([self.P_std, ps[None, :]])
        self.status.append(OK if ok else FAILED)
        self.message.append(message)
        self.origin.append(origin)
        self.seconds.append(float(seconds))

    @property
    def ok(self) -> np.ndarray:
        return np.array([s == OK for s in self.status], dtype=bool)

    def column(self, name: str) -> np.ndarray:
        return self.Y[:, self.output_names.index(name)]

    def to_results(self) -> dict:
        """The ``/results/dataset`` tree for ``write_params``."""
        return {
            "inputs": {n: (self.X[:, j], u) for j, (n, u) in enumerate(zip(self.input_names, self.input_units))},
            "outputs": {n: (self.Y[:, j], u) for j, (n, u) in enumerate(zip(self.output_names, self.output_units))},
            "predicted_mean": {n: (self.P_mean[:, j], u)
                               for j, (n, u) in enumerate(zip(self.output_names, self.output_units))},
            "predicted_std": {n: (self.P_std[:, j], u)
                              for j, (n, u) in enumerate(zip(self.output_names, self.output_units))},
            "status": np.asarray(self.status, dtype="S"),
            "message": np.asarray(self.message, dtype="S"),
            "origin": np.asarray(self.origin, dtype="S"),
            "seconds": (np.asarray(self.seconds), "s"),
            "input_order": np.asarray(self.input_names, dtype="S"),
            "output_order": np.asarray(self.output_names, dtype="S"),
        }


def _strings(ds) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


def read_dataset(path, group: str = "results/dataset") -> Dataset:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            g = f[group]
            ins, outs = _strings(g["input_order"]), _strings(g["output_order"])
            d = Dataset(ins, outs, [str(g["inputs"][n].attrs["units"]) for n in ins],
                        [str(g["outputs"][n].attrs["units"]) for n in outs])
            n = len(g["status"])
            d.X = np.column_stack([g["inputs"][k][()] for k in ins]) if ins else np.empty((n, 0))
            d.Y = np.column_stack([g["outputs"][k][()] for k in outs]) if outs else np.empty((n, 0))
            d.P_mean = np.column_stack([g["predicted_mean"][k][()] for k in outs]) if outs else np.empty((n, 0))
            d.P_std = np.column_stack([g["predicted_std"][k][()] for k in outs]) if outs else np.empty((n, 0))
            d.status, d.message, d.origin = _strings(g["status"]), _strings(g["message"]), _strings(g["origin"])
            d.seconds = list(map(float, g["seconds"][()]))
    except (OSError, KeyError) as exc:
        raise ParameterFileError(f"{path}: no readable design dataset at /{group} ({exc})") from None
    return d


def from_sweep_table(path, input_names: list[str], output_names: list[str], origin: str = "sweep") -> Dataset:
    """A Dataset from the driver's gathered sweep table; a case without an output counts as failed."""
    from ..workflow.sweep import read_sweep_table

    keys, columns, units = read_sweep_table(path)
    missing = [n for n in input_names + output_names if n not in columns]
    if missing:
        raise ParameterFileError(f"{path}: sweep table has no column {', '.join(missing)} "
                                 f"(columns: {', '.join(sorted(columns))})")
    d = Dataset(input_names, output_names, [units.get(n, "") for n in input_names],
                [units.get(n, "") for n in output_names])
    for i in range(len(columns[input_names[0]])):
        y = {n: columns[n][i] for n in output_names}
        failed = not all(np.isfinite(v) for v in y.values())
        d.append(np.array([columns[n][i] for n in input_names]), None if failed else y, origin,
                 "case wrote no value for some outputs" if failed else "")
    return d
