"""Cell parameter sets as data files (JSON), with functional parameters as expressions or tables.

Format (see ``data/chen2020.json``): top-level tables ``negative``, ``separator``, ``positive``,
``electrolyte`` and ``cell`` hold SI scalars. A functional parameter is either
``{"expr": "...", "range": [lo, hi]}`` -- a NumPy expression in one variable (``x`` for a
stoichiometry, ``c`` for an electrolyte concentration in mol/m^3) using exp, log, sqrt, tanh,
cosh, sinh, abs, minimum, maximum, where -- or ``{"table": [[x0, x1, ...], [y0, y1, ...]]}``
(linear interpolation; range = table ends). The range is where the function is defined: a state
leaving it stops the solve with an error naming the function (no silent NaN/extrapolation).

The solver never evaluates expressions in its inner loop: every function is tabulated once on a
uniform grid (``TABLE_POINTS`` points) and the compiled kernel interpolates linearly.
"""

from __future__ import annotations

import ast
import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bda_hpc.errors import InputError

DATA_DIR = Path(__file__).resolve().parent / "data"
TABLE_POINTS = 20001
FUNCTIONAL = {
    ("negative", "ocp"): "x",
    ("positive", "ocp"): "x",
    ("electrolyte", "diffusivity"): "c",
    ("electrolyte", "conductivity"): "c",
}
_ALLOWED_CALLS = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "cosh": np.cosh,
    "sinh": np.sinh, "abs": np.abs, "minimum": np.minimum, "maximum": np.maximum,
    "where": np.where, "arctan": np.arctan,
}
_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load,
                  ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub,
                  ast.UAdd, ast.Compare, ast.Lt, ast.Gt, ast.LtE, ast.GtE)


@dataclass(frozen=True)
class Table:
    """A function sampled on a uniform grid: y(x) by linear interpolation on [x0, x0+dx*(n-1)]."""

    name: str
    x0: float
    dx: float
    y: np.ndarray

    @property
    def lo(self) -> float:
        return self.x0

    @property
    def hi(self) -> float:
        return self.x0 + self.dx * (len(self.y) - 1)

    def __call__(self, x):
        grid = self.x0 + self.dx * np.arange(len(self.y))
        return np.interp(x, grid, self.y)


def compile_expression(text: str, variable: str, where: str):
    """Parse a one-variable expression into a NumPy function; only arithmetic and whitelisted calls."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise InputError(f"{where}: expression {text!r} does not parse: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise InputError(f"{where}: {type(node).__name__} is not allowed in {text!r}")
        if isinstance(node, ast.Name) and node.id not in _ALLOWED_CALLS and node.id != variable:
            raise InputError(f"{where}: unknown name {node.id!r} in {text!r} (variable is {variable!r})")
    code = compile(tree, where, "eval")

    def evaluate(values):
        return eval(code, {"__builtins__": {}}, {**_ALLOWED_CALLS, variable: np.asarray(values, float)})

    return evaluate


def tabulate(spec, name: str) -> Table:
    """Turn a functional-parameter spec (expr or table) into a uniform ``Table``."""
    where = f"parameter {name}"
    if isinstance(spec, dict) and "table" in spec:
        xs, ys = (np.asarray(v, float) for v in spec["table"])
        if xs.ndim != 1 or xs.shape != ys.shape or len(xs) < 2 or np.any(np.diff(xs) <= 0):
            raise InputError(f"{where}: table needs two equal-length rows with increasing x")
        grid = np.linspace(xs[0], xs[-1], TABLE_POINTS)
        return Table(name, grid[0], grid[1] - grid[0], np.interp(grid, xs, ys))
    if isinstance(spec, dict) and "expr" in spec:
        lo, hi = (float(v) for v in spec.get("range", (None, None)))
        if not hi > lo:
            raise InputError(f"{where}: range must be [lo, hi] with hi > lo, got {spec.get('range')}")
        variable = FUNCTIONAL.get(tuple(name.split(".")), "x")
        fn = compile_expression(spec["expr"], variable, where)
        grid = np.linspace(lo, hi, TABLE_POINTS)
        with np.errstate(all="ignore"):
            values = np.broadcast_to(fn(grid), grid.shape).astype(float)
        if not np.all(np.isfinite(values)):
            bad = grid[~np.isfinite(values)][0]
            raise InputError(f"{where}: expression is not finite at {bad:g} inside its range [{lo:g}, {hi:g}]")
        return Table(name, lo, grid[1] - grid[0], values)
    raise InputError(f"{where}: expected {{'expr': ..., 'range': [lo, hi]}} or {{'table': [[x...], [y...]]}}")


class ParameterSet:
    """A validated parameter set: ``values`` (nested dict as in the file) plus tabulated functions."""

    def __init__(self, values: dict, source: str = "<dict>"):
        self.values = values
        self.source = source
        self.name = values.get("name", source)
        problems = validate(values)
        if problems:
            raise InputError(f"parameter set {source}: " + "; ".join(problems))
        self.tables = {f"{sec}.{key}": tabulate(values[sec][key], f"{sec}.{key}") for sec, key in FUNCTIONAL}

    def __getitem__(self, dotted: str):
        section, key = dotted.split(".", 1)
        return self.values[section][key]

    def with_overrides(self, overrides: dict | None) -> ParameterSet:
        """A copy with ``{"negative.thickness": 7e-5, ...}`` replaced (keys must exist)."""
        if not overrides:
            return self
        values = copy.deepcopy(self.values)
        for dotted, value in overrides.items():
            section, _, key = dotted.partition(".")
            if section not in values or key not in values[section]:
                raise InputError(f"parameter override {dotted!r}: no such parameter in set {self.name}")
            values[section][key] = value
        return ParameterSet(values, f"{self.source} (with overrides)")


REQUIRED = {
    "negative": ("thickness", "porosity", "active_fraction", "particle_radius", "c_max", "c_init",
                 "diffusivity", "conductivity", "bruggeman_electrolyte", "bruggeman_electrode",
                 "exchange_current_m_ref", "exchange_current_activation_energy", "ocp"),
    "separator": ("thickness", "porosity", "bruggeman_electrolyte"),
    "electrolyte": ("c_init", "transference_number", "thermodynamic_factor", "diffusivity", "conductivity"),
    "cell": ("electrode_height", "electrode_width", "nominal_capacity_Ah", "lower_voltage_cutoff",
             "upper_voltage_cutoff", "reference_temperature", "ambient_temperature"),
}
REQUIRED["positive"] = REQUIRED["negative"]


def validate(values: dict) -> list[str]:
    """Problems with a parameter dict, each naming the parameter and the bad value."""
    problems = []
    for section, keys in REQUIRED.items():
        if section not in values:
            problems.append(f"missing section {section!r}")
            continue
        problems += [f"{section}.{k}: missing" for k in keys if k not in values[section]]
    if problems:
        return problems
    positive_keys = ("thickness", "particle_radius", "c_max", "diffusivity", "conductivity",
                     "exchange_current_m_ref")
    for section in ("negative", "separator", "positive"):
        sec = values[section]
        for key in positive_keys:
            if key in sec and not (isinstance(sec[key], (int, float)) and sec[key] > 0):
                problems.append(f"{section}.{key}: must be positive, got {sec[key]!r}")
        if not 0 < sec["porosity"] < 1:
            problems.append(f"{section}.porosity: must lie in (0, 1), got {sec['porosity']!r}")
        if "active_fraction" in sec:
            if not 0 < sec["active_fraction"] <= 1 - sec["porosity"] + 1e-12:
                problems.append(f"{section}.active_fraction: must lie in (0, 1 - porosity], "
                                f"got {sec['active_fraction']!r}")
            if "c_init" in sec and not 0 < sec["c_init"] < sec["c_max"]:
                problems.append(f"{section}.c_init: must lie in (0, c_max={sec['c_max']}), got {sec['c_init']!r}")
    el = values["electrolyte"]
    if not el["c_init"] > 0:
        problems.append(f"electrolyte.c_init: must be positive, got {el['c_init']!r}")
    if not 0 <= el["transference_number"] < 1:
        problems.append(f"electrolyte.transference_number: must lie in [0, 1), got {el['transference_number']!r}")
    cell = values["cell"]
    if not cell["lower_voltage_cutoff"] < cell["upper_voltage_cutoff"]:
        problems.append("cell.lower_voltage_cutoff must be below cell.upper_voltage_cutoff")
    for key in ("electrode_height", "electrode_width", "nominal_capacity_Ah", "ambient_temperature"):
        if not cell[key] > 0:
            problems.append(f"cell.{key}: must be positive, got {cell[key]!r}")
    return problems


def load_parameter_set(name_or_path: str | Path, overrides: dict | None = None) -> ParameterSet:
    """Load a shipped set by name ("Chen2020") or a JSON file by path, then apply overrides."""
    path = Path(name_or_path)
    if not path.suffix:
        path = DATA_DIR / f"{str(name_or_path).lower()}.json"
    if not path.is_file():
        shipped = sorted(p.stem for p in DATA_DIR.glob("*.json"))
        raise InputError(f"parameter set {name_or_path!s}: no such file {path} (shipped sets: {shipped})")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"parameter set {path}: not valid JSON: {exc}") from None
    return ParameterSet(values, str(path)).with_overrides(overrides)
