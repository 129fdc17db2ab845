"""``bda-hpc cell import-pybamm NAME``: convert a PyBaMM parameter set into our JSON format.

Scalars are evaluated at the reference temperature; OCPs and the electrolyte's D_e(c), kappa(c) are
tabulated (``params.TABLE_POINTS`` points over the range where they are finite). The model form we
solve is checked, not assumed: the exchange current must be m_ref * exp(E/R (1/T_ref - 1/T)) *
sqrt(c_e c_s (c_max - c_s)), the particle diffusivity constant in the stoichiometry, and the
electrolyte properties separable as f(c) * Arrhenius(T); a set that differs gets an InputError that
names the parameter.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np

from bda_hpc.errors import InputError

from .grid import GAS_CONSTANT
from .params import TABLE_POINTS, ParameterSet

T_STEP = 10.0  # K, for the Arrhenius fits
RTOL = 1e-6


class _Evaluator:
    def __init__(self, name: str):
        import pybamm

        self.pybamm = pybamm
        self.name = name
        try:
            self.pv = pybamm.ParameterValues(name)
        except Exception as exc:  # pybamm raises several types for an unknown name
            raise InputError(f"import-pybamm: PyBaMM has no parameter set {name!r} ({exc})") from None
        self.T_ref = float(self.value("Reference temperature [K]"))

    def has(self, key: str) -> bool:
        return key in self.pv.keys()

    def value(self, key: str, *args) -> np.ndarray | float:
        """A parameter: a number, or a function / data table evaluated at ``args`` (arrays broadcast)."""
        pybamm = self.pybamm
        if not self.has(key):
            raise InputError(f"import-pybamm {self.name}: the set has no {key!r}")
        raw = self.pv[key]
        if isinstance(raw, (int, float)):
            return float(raw)
        if callable(raw) and not isinstance(raw, pybamm.Symbol):
            n = len(inspect.signature(raw).parameters)
            args = args[:n]
        elif isinstance(raw, tuple):
            args = args[:1]
        size = max([np.size(a) for a in args] + [1])
        inputs = {f"arg{i}": pybamm.Vector(np.broadcast_to(a, size).astype(float)) if size > 1 else pybamm.Scalar(a)
                  for i, a in enumerate(args)}
        sym = self.pv.process_symbol(pybamm.FunctionParameter(key, inputs))
        out = np.asarray(sym.evaluate(), dtype=float).ravel()
        return float(out[0]) if size == 1 and out.size == 1 else np.broadcast_to(out, (size,)).copy()


def _table(ev: _Evaluator, key: str, lo: float, hi: float, *extra) -> dict:
    """Tabulate a one-variable function on [lo, hi], trimmed to the finite stretch around the middle."""
    x = np.linspace(lo, hi, TABLE_POINTS)
    with np.errstate(all="ignore"):
        y = np.asarray(ev.value(key, x, *extra), dtype=float)
    ok = np.isfinite(y)
    mid = TABLE_POINTS // 2
    if not ok[mid]:
        raise InputError(f"import-pybamm {ev.name}: {key!r} is not finite at {x[mid]:g}")
    left = mid - np.argmin(ok[mid::-1]) + 1 if not ok[: mid + 1].all() else 0
    right = mid + np.argmin(ok[mid:]) - 1 if not ok[mid:].all() else TABLE_POINTS - 1
    return {"table": [x[left:right + 1].tolist(), y[left:right + 1].tolist()]}


def _arrhenius_energy(ev: _Evaluator, key: str, f_ref: float, f_hot: float) -> float:
    return GAS_CONSTANT * np.log(f_hot / f_ref) / (1.0 / ev.T_ref - 1.0 / (ev.T_ref + T_STEP))


def _exchange_current(ev: _Evaluator, dom: str, c_max: float, c_e0: float) -> tuple[float, float]:
    key = f"{dom} electrode exchange-current density [A.m-2]"
    ce = np.array([0.5, 1.0, 1.5, 1.0, 1.0]) * c_e0
    cs = np.array([0.5, 0.5, 0.5, 0.2, 0.8]) * c_max
    form = np.sqrt(ce * cs * (c_max - cs))
    ratio = ev.value(key, ce, cs, c_max, ev.T_ref) / form
    if np.ptp(ratio) > RTOL * abs(ratio.mean()):
        raise InputError(f"import-pybamm {ev.name}: {key!r} is not m_ref*sqrt(c_e c_s (c_max - c_s)); "
                         f"the DFN here supports only that form")
    m_ref = float(ratio.mean())
    energy = _arrhenius_energy(ev, key, m_ref, float(ev.value(key, ce, cs, c_max, ev.T_ref + T_STEP)[1] / form[1]))
    cold = ev.value(key, ce, cs, c_max, ev.T_ref - T_STEP)[1] / form[1]
    predicted = m_ref * np.exp(energy / GAS_CONSTANT * (1 / ev.T_ref - 1 / (ev.T_ref - T_STEP)))
    if abs(cold - predicted) > 1e-4 * abs(predicted):
        raise InputError(f"import-pybamm {ev.name}: the temperature dependence of {key!r} is not Arrhenius")
    return m_ref, energy


def _constant_in(ev: _Evaluator, key: str, *args_variants) -> float:
    values = np.array([float(np.atleast_1d(ev.value(key, *a))[0]) for a in args_variants])
    if np.ptp(values) > RTOL * abs(values[0]):
        raise InputError(f"import-pybamm {ev.name}: {key!r} depends on concentration; only constant values "
                         f"(with an Arrhenius factor) are supported")
    return float(values[0])


def _electrode(ev: _Evaluator, dom: str, c_e0: float) -> dict:
    T = ev.T_ref
    c_max = float(ev.value(f"Maximum concentration in {dom.lower()} electrode [mol.m-3]"))
    D_key = f"{dom} particle diffusivity [m2.s-1]"
    D = _constant_in(ev, D_key, (0.2, T), (0.5, T), (0.8, T))
    D_hot = float(np.atleast_1d(ev.value(D_key, 0.5, T + T_STEP))[0])
    m_ref, E_j = _exchange_current(ev, dom, c_max, c_e0)
    sigma = _constant_in(ev, f"{dom} electrode conductivity [S.m-1]", (T,), (T + T_STEP,))
    entropic = 0.0
    if ev.has(f"{dom} electrode OCP entropic change [V.K-1]"):
        entropic = _constant_in(ev, f"{dom} electrode OCP entropic change [V.K-1]", (0.3, c_max), (0.7, c_max))
    out = {
        "thickness": ev.value(f"{dom} electrode thickness [m]"),
        "porosity": _constant_in(ev, f"{dom} electrode porosity", (0.0,), (1.0,)),
        "active_fraction": _constant_in(ev, f"{dom} electrode active material volume fraction", (0.0,), (1.0,)),
        "particle_radius": _constant_in(ev, f"{dom} particle radius [m]", (0.0,), (1.0,)),
        "c_max": c_max,
        "c_init": _constant_in(ev, f"Initial concentration in {dom.lower()} electrode [mol.m-3]", (0.0,), (1.0,)),
        "diffusivity": D,
        "diffusivity_activation_energy": _arrhenius_energy(ev, D_key, D, D_hot),
        "conductivity": sigma,
        "bruggeman_electrolyte": ev.value(f"{dom} electrode Bruggeman coefficient (electrolyte)"),
        "bruggeman_electrode": ev.value(f"{dom} electrode Bruggeman coefficient (electrode)"),
        "exchange_current_m_ref": m_ref,
        "exchange_current_activation_energy": E_j,
        "ocp": _table(ev, f"{dom} electrode OCP [V]", 0.0, 1.0, T),
        "ocp_entropic_change": entropic,
    }
    for key, pb in (("density", "density [kg.m-3]"), ("specific_heat", "specific heat capacity [J.kg-1.K-1]")):
        if ev.has(f"{dom} electrode {pb}"):
            out[key] = float(np.atleast_1d(ev.value(f"{dom} electrode {pb}", T))[0])
    alpha = f"{dom} electrode charge transfer coefficient"
    if ev.has(alpha) and abs(ev.value(alpha) - 0.5) > 1e-12:
        raise InputError(f"import-pybamm {ev.name}: {alpha!r} = {ev.value(alpha)}; only symmetric (0.5) "
                         f"Butler-Volmer kinetics are supported")
    return out


def _electrolyte(ev: _Evaluator) -> dict:
    T = ev.T_ref
    c0 = float(ev.value("Initial concentration in electrolyte [mol.m-3]"))
    out = {"c_init": c0,
           "transference_number": _constant_in(ev, "Cation transference number", (c0, T), (0.5 * c0, T)),
           "thermodynamic_factor": _constant_in(ev, "Thermodynamic factor", (c0, T), (0.5 * c0, T))
           if ev.has("Thermodynamic factor") else 1.0}
    for name, key in (("diffusivity", "Electrolyte diffusivity [m2.s-1]"),
                      ("conductivity", "Electrolyte conductivity [S.m-1]")):
        out[name] = _table(ev, key, 0.0, 4.0 * c0, T)
        ref = np.array([ev.value(key, c, T) for c in (0.5 * c0, c0)], dtype=float)
        hot = np.array([ev.value(key, c, T + T_STEP) for c in (0.5 * c0, c0)], dtype=float)
        if abs(hot[0] / ref[0] - hot[1] / ref[1]) > 1e-6 * hot[1] / ref[1]:
            raise InputError(f"import-pybamm {ev.name}: {key!r} is not f(c) * g(T); not supported")
        out[f"{name}_activation_energy"] = _arrhenius_energy(ev, key, ref[1], hot[1])
    return out


def _cell(ev: _Evaluator) -> dict:
    get = ev.value
    cell = {
        "electrode_height": get("Electrode height [m]"), "electrode_width": get("Electrode width [m]"),
        "nominal_capacity_Ah": get("Nominal cell capacity [A.h]"),
        "lower_voltage_cutoff": get("Lower voltage cut-off [V]"),
        "upper_voltage_cutoff": get("Upper voltage cut-off [V]"),
        "reference_temperature": ev.T_ref, "ambient_temperature": get("Ambient temperature [K]"),
        "initial_temperature": get("Initial temperature [K]"),
    }
    optional = {
        "heat_transfer_coefficient": "Total heat transfer coefficient [W.m-2.K-1]",
        "cooling_area": "Cell cooling surface area [m2]", "volume": "Cell volume [m3]",
        "negative_current_collector_thickness": "Negative current collector thickness [m]",
        "positive_current_collector_thickness": "Positive current collector thickness [m]",
        "negative_current_collector_density": "Negative current collector density [kg.m-3]",
        "positive_current_collector_density": "Positive current collector density [kg.m-3]",
        "negative_current_collector_specific_heat": "Negative current collector specific heat capacity [J.kg-1.K-1]",
        "positive_current_collector_specific_heat": "Positive current collector specific heat capacity [J.kg-1.K-1]",
        "negative_current_collector_conductivity": "Negative current collector conductivity [S.m-1]",
        "positive_current_collector_conductivity": "Positive current collector conductivity [S.m-1]",
    }
    for ours, theirs in optional.items():
        if ev.has(theirs):
            cell[ours] = float(np.atleast_1d(get(theirs, ev.T_ref))[0])
    return cell


def convert(name: str) -> dict:
    """The JSON-ready dict of PyBaMM set ``name`` (validated by loading it as a ParameterSet)."""
    ev = _Evaluator(name)
    c_e0 = float(ev.value("Initial concentration in electrolyte [mol.m-3]"))
    values = {
        "name": name,
        "description": f"imported from PyBaMM {ev.pybamm.__version__} parameter set {name} by bda-hpc cell "
                       f"import-pybamm (functions tabulated at T_ref = {ev.T_ref} K)",
        "negative": _electrode(ev, "Negative", c_e0),
        "separator": {"thickness": ev.value("Separator thickness [m]"),
                      "porosity": _constant_in(ev, "Separator porosity", (0.0,), (1.0,)),
                      "bruggeman_electrolyte": ev.value("Separator Bruggeman coefficient (electrolyte)")},
        "positive": _electrode(ev, "Positive", c_e0),
        "electrolyte": _electrolyte(ev),
        "cell": _cell(ev),
    }
    for key, pb in (("density", "Separator density [kg.m-3]"),
                    ("specific_heat", "Separator specific heat capacity [J.kg-1.K-1]")):
        if ev.has(pb):
            values["separator"][key] = float(np.atleast_1d(ev.value(pb, ev.T_ref))[0])
    ParameterSet(values, f"PyBaMM {name}")  # our validation, with the same messages as for files
    return values


def import_pybamm(name: str, out: Path) -> Path:
    try:
        import pybamm  # noqa: F401
    except ImportError:
        raise InputError("import-pybamm needs PyBaMM: pip install pybamm") from None
    values = convert(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(values, indent=1) + "\n")
    tmp.replace(out)
    return out
