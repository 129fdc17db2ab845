"""Design problems: what is varied (and the range its simulator accepts), what comes out, what is sought.

A problem is a picklable object (it travels to worker processes) with
``limits`` {variable: (lo, hi)} the simulator accepts, ``outputs`` {name: units}, ``objective`` and
``sense`` ("max"/"min"), ``constraints`` (``Constraint(output, lower, upper)``) and
``simulate(point: dict) -> {output: value}`` that raises on a failed run. ``curves(point)`` returns the
time series shown for the verified optimum.

Analytic problems with known answers test the machinery; ``CellFastCharge`` is worked problem (b)
on the DFN cell model (``bda_hpc.cell.simulate``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SolverError


@dataclass
class Constraint:
    output: str
    lower: float | None = None
    upper: float | None = None

    def satisfied(self, value) -> np.ndarray:
        value = np.asarray(value, float)
        ok = np.isfinite(value)
        if self.lower is not None:
            ok &= value >= self.lower
        if self.upper is not None:
            ok &= value <= self.upper
        return ok

    def describe(self) -> str:
        parts = [f"{self.lower:g} <=" if self.lower is not None else "", self.output,
                 f"<= {self.upper:g}" if self.upper is not None else ""]
        return " ".join(p for p in parts if p)


@dataclass
class Problem:
    # set by each problem's __post_init__, not by the user (the init fields are the problem's options)
    limits: dict = field(default_factory=dict, init=False)
    outputs: dict = field(default_factory=dict, init=False)
    objective: str = field(default="", init=False)
    sense: str = field(default="max", init=False)
    constraints: list = field(default_factory=list, init=False)

    def simulate(self, point: dict) -> dict:
        raise NotImplementedError

    def curves(self, point: dict) -> dict:
        return {}

    def feasible(self, Y: np.ndarray, output_names: list[str]) -> np.ndarray:
        ok = np.all(np.isfinite(Y), axis=1)
        for c in self.constraints:
            ok &= c.satisfied(Y[:, output_names.index(c.output)])
        return ok


@dataclass
class ConstrainedQuadratic(Problem):
    """Maximise f = -(x-0.7)^2 - (y-0.3)^2 subject to g = 0.5 - x >= 0; optimum (0.5, 0.3), f* = -0.04.

    Runs with y above ``fail_above`` raise, to exercise failure handling."""

    fail_above: float = 2.0

    def __post_init__(self):
        self.limits = {"x": (0.0, 1.0), "y": (0.0, 1.0)}
        self.outputs = {"f": "", "g": ""}
        self.objective, self.sense = "f", "max"
        self.constraints = [Constraint("g", lower=0.0)]

    def simulate(self, point):
        x, y = point["x"], point["y"]
        if y > self.fail_above:
            raise SolverError(f"synthetic failure at y = {y:g} > {self.fail_above:g}")
        return {"f": -(x - 0.7) ** 2 - (y - 0.3) ** 2, "g": 0.5 - x}


@dataclass
class ThresholdCurrent(Problem):
    """1D analogue of problem (a): height h(i) = 2 i^1.5 grows with current i; find the largest i with
    h <= h_max (answer (h_max/2)^(2/3))."""

    h_max: float = 1.0

    def __post_init__(self):
        self.limits = {"current": (0.0, 2.0)}
        self.outputs = {"current_out": "", "height": ""}
        self.objective, self.sense = "current_out", "max"
        self.constraints = [Constraint("height", upper=self.h_max)]

    def simulate(self, point):
        i = point["current"]
        return {"current_out": i, "height": 2.0 * i ** 1.5}


# ---- worked problem (b): DFN cell, fast charge without lithium plating -----------------------------
# stoichiometry window of the Chen2020 set (PyBaMM's 0 % / 100 % SOC), used for the nominal capacity
_X_N = (0.0279, 0.9014)
_Y_P = (0.9084, 0.2661)
_FARADAY = 96485.33212


@dataclass
class CellFastCharge(Problem):
    """Highest stack energy density whose anode stays above 0 V vs Li (no plating) in a 15-min charge.

    One simulation: 1C discharge (the design's own nominal capacity) to the lower cut-off or for at most
    0.95 h -> rest ->
    short current ramp -> CC charge at ``charge_c_rate`` for ``charge_minutes`` (or to the upper
    cut-off). Energy density = discharge energy / stack volume (electrode area x (L_n + L_sep + L_p)),
    Wh/L of the electrode stack (no can, tabs or mandrel). The constraint reads the minimum of the
    anode overpotential phi_s - phi_e at the separator during the charge step only. Porosity changes
    set active_fraction = 1 - porosity (no binder phase), as in the Chen2020 set.
    """

    charge_c_rate: float = 4.0  # 15 min at 4C: the fast charge
    charge_minutes: float = 15.0
    rest_s: float = 300.0
    parameter_set: str = "Chen2020"
    thermal: bool = False

    def __post_init__(self):
        # what the DFN accepts with its default mesh, checked by hand: thinner electrodes than 10 um
        # leave the default 20-cell mesh's cells sub-micron; porosity is limited by Bruggeman's range
        self.limits = {
            "negative.thickness": (1.0e-5, 2.0e-4), "positive.thickness": (1.0e-5, 2.0e-4),
            "negative.porosity": (0.1, 0.6), "positive.porosity": (0.1, 0.6),
            "negative.particle_radius": (1.0e-6, 2.0e-5), "positive.particle_radius": (1.0e-6, 2.0e-5),
        }
        self.outputs = {"energy_density": "W*h/L", "discharge_capacity": "A*h", "discharge_energy": "W*h",
                        "anode_overpotential_min": "V", "charged_capacity": "A*h", "max_temperature": "K"}
        self.objective, self.sense = "energy_density", "max"
        self.constraints = [Constraint("anode_overpotential_min", lower=0.0)]

    def _setup(self, point):
        from ..cell.params import load_parameter_set

        overrides = dict(point)
        for side in ("negative", "positive"):
            if f"{side}.porosity" in point:
                overrides[f"{side}.active_fraction"] = 1.0 - point[f"{side}.porosity"]
        params = load_parameter_set(self.parameter_set, overrides)
        pv = params.values
        area = pv["cell"]["electrode_height"] * pv["cell"]["electrode_width"]

        def capacity(side, window):
            s = pv[side]
            return area * s["thickness"] * s["active_fraction"] * s["c_max"] * abs(window[1] - window[0]) \
                * _FARADAY / 3600.0

        nominal = min(capacity("negative", _X_N), capacity("positive", _Y_P))
        overrides["cell.nominal_capacity_Ah"] = nominal
        stack = area * (pv["negative"]["thickness"] + pv["separator"]["thickness"] + pv["positive"]["thickness"])
        return overrides, stack

    def experiment(self):
        ramp = [{"mode": "current", "c_rate": -self.charge_c_rate * f, "duration": 2.0} for f in (0.25, 0.5, 0.75)]
        charge_s = self.charge_minutes * 60.0 - 2.0 * len(ramp)
        # the discharge stops at 2.5 V or after 0.95 h: a positive-limited design would otherwise drive
        # its cathode stoichiometry out of the OCP table's range before the voltage reaches the cut-off
        return ([{"mode": "current", "c_rate": 1.0, "duration": 0.95 * 3600.0},
                 {"mode": "rest", "duration": self.rest_s}] + ramp
                + [{"mode": "current", "c_rate": -self.charge_c_rate, "duration": charge_s}])

    def _run(self, point):
        from ..cell.simulate import simulate

        overrides, stack_m3 = self._setup(point)
        res = simulate(overrides, self.experiment(), parameter_set=self.parameter_set, thermal=self.thermal)
        return res, stack_m3

    def simulate(self, point):
        res, stack_m3 = self._run(point)
        step = res["step"]
        charging = step >= 2  # ramp and charge steps
        if not charging.any():
            raise SolverError("cell run ended before the charge step")
        q = res["capacity"]
        return {
            "energy_density": res["energy"] / (stack_m3 * 1e3),  # W*h per litre of stack
            "discharge_capacity": res["discharge_capacity"],
            "discharge_energy": res["energy"],
            "anode_overpotential_min": float(res["anode_overpotential_separator"][charging].min()),
            "charged_capacity": float(q[step == 1][-1] - q[-1]),
            "max_temperature": res["max_temperature"],
        }

    def curves(self, point):
        res, _ = self._run(point)
        return {name: res.series[name] for name in ("time", "voltage", "current", "step",
                                                    "anode_overpotential_separator", "capacity")}


def problem_class(name: str) -> type[Problem]:
    from .phasefield_problem import DendriteThreshold

    return {"cell_fastcharge": CellFastCharge, "dendrite_threshold": DendriteThreshold,
            "constrained_quadratic": ConstrainedQuadratic, "threshold_current": ThresholdCurrent}[name]
