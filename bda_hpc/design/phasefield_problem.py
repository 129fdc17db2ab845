"""Worked problem (a): the largest charging current density whose dendrite tip stays below a height.

Each simulation runs the phase-field stage (``bda-hpc phasefield``) as a subprocess on a copy of a
base config (default: ``examples/dendrite_2d_small.toml``) with the applied electrode potential
replaced, and reads ``dendrite.h5``. The model is driven by the potential, not by the current, so the
potential is the design variable and the current density is an output: the mean current density over
the run, F x (deposited Li per electrode area) / t_end. "After a given charge" is implemented as "after
a given time" (``t_end``); the charge passed is reported beside it (``charge_density``).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import read_toml
from ..errors import SolverError
from ..io.params import read_params, read_results
from .problems import Constraint, Problem

FARADAY = 96485.33212
REPO = Path(__file__).resolve().parents[2]


@dataclass
class DendriteThreshold(Problem):
    base_config: str = str(REPO / "examples" / "dendrite_2d_small.toml")
    t_end: float = 1.0  # s
    h_max: float = 8.0e-6  # m: the tip height the deposit must stay below
    timeout_s: float = 1200.0

    def __post_init__(self):
        # the range REFERENCES §1 explores (-0.2 ... -0.5 V), widened to weak driving
        self.limits = {"applied_potential": (-0.5, -0.05)}
        self.outputs = {"current_density": "A/m^2", "max_dendrite_height": "m", "space_utilisation": "",
                        "charge_density": "C/m^2"}
        self.objective, self.sense = "current_density", "max"
        self.constraints = [Constraint("max_dendrite_height", upper=self.h_max)]

    def _run(self, point: dict, work: Path) -> Path:
        import tomli_w

        config = read_toml(self.base_config)
        pf = config.setdefault("phasefield", {})
        pf["t_end"] = self.t_end
        pf["output_interval"] = self.t_end
        pf.setdefault("physics", {})["applied_potential"] = float(point["applied_potential"])
        cfg = work / "run.toml"
        cfg.write_text(tomli_w.dumps(config))
        cmd = [sys.executable, "-m", "bda_hpc.cli", "phasefield", "--config", str(cfg), "--out-dir", str(work / "out")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise SolverError(f"phase-field run failed (exit {proc.returncode}): {last}")
        return work / "out" / "dendrite.h5"

    def simulate(self, point):
        with tempfile.TemporaryDirectory(prefix="bda_design_pf_") as tmp:
            path = self._run(point, Path(tmp))
            p = read_params(path)
            deposited = read_results(path, "timeseries/deposited_li")  # mol/m^2
            charge = abs(float(deposited[-1])) * FARADAY
            return {"current_density": charge / self.t_end, "charge_density": charge,
                    "max_dendrite_height": p.require("max_dendrite_height", units="m"),
                    "space_utilisation": p.require("space_utilisation", units="")}

    def curves(self, point):
        with tempfile.TemporaryDirectory(prefix="bda_design_pf_") as tmp:
            path = self._run(point, Path(tmp))
            return {"time": (read_results(path, "timeseries/time"), "s"),
                    "tip_height": (read_results(path, "timeseries/tip_height"), "m"),
                    "current_density": (read_results(path, "timeseries/current_density"), "A/m^2"),
                    "deposited_li": (read_results(path, "timeseries/deposited_li"), "mol/m^2")}
