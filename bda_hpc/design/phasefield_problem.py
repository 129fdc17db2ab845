"""Worked problem (a): the largest charging current density whose dendrite tip stays below a height
after a given charge.

Each simulation runs the phase-field stage (its entry point ``run_stage`` on ``COMM_SELF``, in the
calling process; or, with ``isolate = true``, ``bda-hpc phasefield`` as a subprocess, which costs ~1 s
of start-up per segment but survives a crashing solver) on a copy of a base config (default:
``examples/design_dendrite_phasefield.toml``) with the design variables written into
``[phasefield.physics]``, and reads ``dendrite.h5``. The model is driven by the electrode
potential, not by the current, so "after a given charge" is enforced by the run's length: the run goes
on (``--restart`` from its own checkpoint, with a longer ``t_end`` extrapolated from the current it
draws) until ``charge_density`` has been deposited. The outputs then come from the per-step time
series, interpolated to that charge: the tip height (``max_dendrite_height``) and the time it took,
whose ratio to the charge is the mean current density (the objective). ``space_utilisation`` is the
stage's own figure at the end of the run, i.e. after ``charge_at_end`` (a few % past the target).
"""
from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import read_toml
from ..errors import SolverError
from ..io.params import read_params, read_results
from .problems import Constraint, Problem

FARADAY = 96485.33212
REPO = Path(__file__).resolve().parents[2]

# [phasefield.physics] keys that may be design variables, with the ranges the model is run over here:
# the potential range REFERENCES §1 explores (-0.2 ... -0.5 V) widened to weak driving; |δ| < 1/15
# (positive interface stiffness, checked by the stage); transport and kinetics within about a decade of
# the table's values; temperatures of a cell in use.
PHYSICS_LIMITS = {
    "applied_potential": (-0.5, -0.05),           # V
    "anisotropy": (-0.066, 0.066),                # δ
    "diffusivity_electrolyte": (3.0e-11, 3.0e-9),  # m^2/s
    "conductivity_electrolyte": (0.1, 10.0),      # S/m
    "reaction_constant": (1.0e-4, 1.0e-2),        # 1/s (exchange current)
    "temperature": (250.0, 350.0),                # K
}


@dataclass
class DendriteThreshold(Problem):
    base_config: str = str(REPO / "examples" / "design_dendrite_phasefield.toml")
    charge_density: float = 1.0e4  # C/m^2 plated in every run (1e4 C/m^2 ~ a 1.4 µm flat layer of Li)
    h_max: float = 5.0e-6  # m: the tip height the deposit must stay below at that charge
    t_max: float = 60.0  # s: a run that has not plated charge_density by then counts as failed
    timeout_s: float = 1200.0  # per segment, subprocess runs only
    isolate: bool = False  # run each segment as a subprocess

    def __post_init__(self):
        self.limits = dict(PHYSICS_LIMITS)
        self.outputs = {"current_density": "A/m^2", "max_dendrite_height": "m", "time_to_charge": "s",
                        "space_utilisation": "", "charge_at_end": "C/m^2"}
        self.objective, self.sense = "current_density", "max"
        self.constraints = [Constraint("max_dendrite_height", upper=self.h_max)]

    def _config(self, point: dict) -> dict:
        config = read_toml(self.base_config)
        physics = config.setdefault("phasefield", {}).setdefault("physics", {})
        physics.update({k: float(v) for k, v in point.items()})
        return config

    def _first_guess(self, config: dict) -> float:
        """Time to plate the charge on a flat front at the applied potential (Butler-Volmer rate of the
        model, bulk concentration, no ohmic drop: the same rate as li_params.potential_for_current).
        It is only a first segment: measured against full runs it is off by 0.15x-4x either way (transport
        limits strong driving, the growing nucleus adds area), so the run starts with 0.1x of it and is
        then extended from the current it actually draws (a short first segment costs a restart, ~2 s; a
        long one costs simulated time past the target)."""
        from ..phasefield.li_params import LiPhysical

        p = LiPhysical(**config["phasefield"].get("physics", {}))
        phi = p.applied_potential / p.thermal_voltage
        a = p.transfer_coefficient
        rate = p.electrons * FARADAY * p.site_density * 6.0 * p.interface_length * p.reaction_constant \
            * (math.exp(-a * phi) - math.exp((1 - a) * phi))
        return float(np.clip(0.1 * self.charge_density / max(rate, 1e-30), 0.02, self.t_max))

    def _stage(self, config: dict, work: Path, t_end: float, restart: bool) -> None:
        import tomli_w

        pf = config["phasefield"]
        pf["t_end"] = pf["output_interval"] = t_end  # one output (and checkpoint) per segment
        cfg = work / "run.toml"
        cfg.write_text(tomli_w.dumps(config))
        if not self.isolate:
            import petsc4py

            petsc4py.init([sys.executable])  # no-op where PETSc is already up; keeps the worker's argv out
            from mpi4py import MPI

            from ..errors import BdaError
            from ..phasefield.stage import run_stage

            try:
                run_stage(MPI.COMM_SELF, str(cfg), work / "out", restart=restart)
            except BdaError as exc:
                raise SolverError(f"phase-field run failed: {exc}") from None
            return
        cmd = [sys.executable, "-m", "bda_hpc.cli", "phasefield", "--config", str(cfg), "--out-dir",
               str(work / "out")] + (["--restart"] if restart else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise SolverError(f"phase-field run failed (exit {proc.returncode}): {last}")

    def _run(self, point: dict, work: Path) -> Path:
        """Run until charge_density is plated (restarting with a longer t_end); the dendrite.h5 path."""
        config = self._config(point)
        t_end, restart = self._first_guess(config), False
        while True:
            self._stage(config, work, t_end, restart)
            path = work / "out" / "dendrite.h5"
            t = read_results(path, "timeseries/time")
            q = np.abs(read_results(path, "timeseries/deposited_li")) * FARADAY
            if q[-1] >= self.charge_density:
                return path
            if t_end >= self.t_max:
                raise SolverError(f"only {q[-1]:.4g} of {self.charge_density:g} C/m^2 plated by t_max = "
                                  f"{self.t_max:g} s")
            # extrapolate with the current of the last quarter of the run, 5 % past the target; the
            # current grows as the deposit roughens, so a segment at most doubles the simulated time
            k = int(0.75 * (len(t) - 1))
            current = (q[-1] - q[k]) / max(t[-1] - t[k], 1e-12)
            missing = 1.05 * (self.charge_density - q[-1]) / max(current, 1e-30)
            t_end, restart = float(min(t_end + min(max(missing, 0.05 * t_end), t_end), self.t_max)), True

    def _at_charge(self, path: Path) -> dict:
        t = read_results(path, "timeseries/time")
        q = np.abs(read_results(path, "timeseries/deposited_li")) * FARADAY
        h = read_results(path, "timeseries/tip_height")
        # plated charge grows monotonically step by step; interpolate linearly between the two steps
        # around the target (np.interp needs increasing abscissae: keep the running maximum)
        q = np.maximum.accumulate(q)
        t_q = float(np.interp(self.charge_density, q, t))
        return {"time_to_charge": t_q, "current_density": self.charge_density / t_q,
                "max_dendrite_height": float(np.interp(self.charge_density, q, h)), "charge_at_end": float(q[-1])}

    def simulate(self, point):
        with tempfile.TemporaryDirectory(prefix="bda_design_pf_") as tmp:
            path = self._run(point, Path(tmp))
            out = self._at_charge(path)
            out["space_utilisation"] = read_params(path).require("space_utilisation", units="")
            return out

    def curves(self, point):
        with tempfile.TemporaryDirectory(prefix="bda_design_pf_") as tmp:
            path = self._run(point, Path(tmp))
            q = np.abs(read_results(path, "timeseries/deposited_li")) * FARADAY
            return {"time": (read_results(path, "timeseries/time"), "s"),
                    "tip_height": (read_results(path, "timeseries/tip_height"), "m"),
                    "current_density": (read_results(path, "timeseries/current_density"), "A/m^2"),
                    "plated_charge": (q, "C/m^2")}
