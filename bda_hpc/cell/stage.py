"""The cell stage: TOML [cell] -> DFN simulation of an experiment -> cell.h5 (+ cell.png).

cell.h5 parameters (SI):
  discharge_capacity (A*h)      charge delivered while the current is positive (discharge)
  energy (W*h)                  integral of V*I over the discharge parts
  max_temperature (K)           maximum lumped temperature (ambient when isothermal)
  anode_overpotential_min (V)   minimum over the experiment of phi_s - phi_e at the negative
                                electrode / separator interface (lithium plating when < 0)
  anode_current_density (A/m^2) interfacial current density j (per particle surface area, > 0
                                de-lithiation) at the same place and at the same time as that minimum
/results/series/<name> holds the time series (see results.py), /results/steps the end reason of each step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bda_hpc.errors import ParameterFileError

from .experiment import Step
from .grid import MeshSizes

log = logging.getLogger("bda_hpc.cell")


@dataclass
class CellConfig:
    """The [cell] table of a TOML config (every key optional)."""

    parameter_set: str = "Chen2020"  # shipped set name or path to a parameter JSON
    thermal: bool = False  # lumped thermal model (else isothermal at the ambient temperature)
    rtol: float = 1e-6
    atol: float = 1e-6
    output_dt: float | None = 10.0  # s between stored outputs; none = every accepted step
    mesh: MeshSizes = field(default_factory=MeshSizes)
    overrides: dict = field(default_factory=dict)  # {"negative.thickness" = 7e-5, ...}
    experiment: list[Step] = field(default_factory=lambda: [Step(mode="current", c_rate=1.0)])
    microstructure_regions: list[str] = field(default_factory=lambda: ["negative", "positive"])
    microstructure_quantity: str = "bruggeman_exponent"  # or "tortuosity_x"
    plots: bool = True
    petsc: dict = field(default_factory=dict)  # PETSc options without the dfn_ prefix
    sweep: dict = field(default_factory=dict)  # `bda-hpc cell sweep`: {"negative.porosity" = [..], "c_rate" = [..]}

    def validate(self) -> list[str]:
        problems = [f"mesh.{p}" for p in self.mesh.validate()]
        if self.rtol <= 0 or self.atol <= 0:
            problems.append(f"rtol/atol: must be positive, got {self.rtol}/{self.atol}")
        if self.output_dt is not None and self.output_dt <= 0:
            problems.append(f"output_dt: must be positive, got {self.output_dt}")
        if not self.experiment:
            problems.append("experiment: needs at least one step")
        bad = [r for r in self.microstructure_regions if r not in ("negative", "separator", "positive")]
        if bad:
            problems.append(f"microstructure_regions: unknown region {bad[0]!r}")
        if self.microstructure_quantity not in ("bruggeman_exponent", "tortuosity_x", "tortuosity_y",
                                                "tortuosity_z"):
            problems.append(f"microstructure_quantity: must be bruggeman_exponent or tortuosity_x/y/z, "
                            f"got {self.microstructure_quantity!r}")
        for k, step in enumerate(self.experiment):
            problems += [f"experiment[{k}].{p}" for p in step.validate()]
        return problems


def microstructure_overrides(upstream, cfg: CellConfig) -> dict:
    """Bruggeman exponents for the configured regions from an electrode.h5 (stage microstructure).

    A tortuosity tau is turned into the exponent that gives the same transport efficiency eps/tau at
    the structure's porosity eps: b = 1 - ln(tau)/ln(eps)."""
    q = cfg.microstructure_quantity
    if q == "bruggeman_exponent":
        b = float(upstream.require("bruggeman_exponent", units="1"))
    else:
        tau = float(upstream.require(q, units="1"))
        eps = float(upstream.require("porosity", units="1"))
        if not (np.isfinite(tau) and tau >= 1 and 0 < eps < 1):
            raise ParameterFileError(f"{upstream.path}: {q} = {tau} with porosity {eps} gives no usable "
                                     f"transport efficiency (need tau >= 1, 0 < porosity < 1)")
        b = 1.0 - np.log(tau) / np.log(eps)
    if not 0 < b < 10:
        raise ParameterFileError(f"{upstream.path}: Bruggeman exponent {b:.4g} from {q} is outside (0, 10)")
    return {f"{r}.bruggeman_electrolyte": b for r in cfg.microstructure_regions}


def series_png(path: Path, res, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = res["time"] / 3600.0
    fig, ax = plt.subplots(2, 2, figsize=(10, 7))
    ax[0, 0].plot(res["capacity"], res["voltage"])
    ax[0, 0].set(xlabel="charge delivered (A h)", ylabel="voltage (V)", title="voltage")
    ax[0, 1].plot(t, res["current"])
    ax[0, 1].set(xlabel="time (h)", ylabel="current (A, > 0 discharge)", title="current")
    ax[1, 0].plot(t, res["anode_overpotential_separator"] * 1e3)
    ax[1, 0].axhline(0.0, color="k", lw=0.5)
    ax[1, 0].set(xlabel="time (h)", ylabel="phi_s - phi_e at separator (mV)", title="plating indicator")
    ax[1, 1].plot(t, res["temperature"] - 273.15)
    ax[1, 1].set(xlabel="time (h)", ylabel="temperature (C)", title="lumped temperature")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_stage(comm, config_path, out_dir, upstream_paths) -> Path:
    """Run the stage on rank 0 (a cell is a serial problem) and write cell.h5; returns its path."""
    from bda_hpc.config import config_text, load_section
    from bda_hpc.io.params import Parameter, select_by_stage, write_params

    from .params import load_parameter_set
    from .simulate import CellSimulation

    cfg = load_section(config_path, "cell", CellConfig)
    upstream = select_by_stage(upstream_paths, "microstructure", comm) if upstream_paths else None
    overrides = dict(cfg.overrides)
    inputs = []
    if upstream is not None:
        overrides.update(microstructure_overrides(upstream, cfg))
        inputs.append(upstream.path)
        log.info("microstructure %s: %s", upstream.path, overrides)
    base = Path(config_path).resolve().parent if config_path else Path(".")
    set_path = cfg.parameter_set
    if Path(set_path).suffix and not Path(set_path).is_absolute():
        set_path = str(base / set_path)
    out = Path(out_dir)
    params = load_parameter_set(set_path, overrides)
    res = None
    if comm.rank == 0:
        sim = CellSimulation(params, cfg.mesh, thermal=cfg.thermal, rtol=cfg.rtol, atol=cfg.atol,
                             petsc_options=cfg.petsc)
        try:
            res = sim.run(cfg.experiment, output_dt=cfg.output_dt, base_dir=base, progress=True)
        finally:
            sim.destroy()
    res = comm.bcast(res, root=0)
    descriptions = {
        "discharge_capacity": "charge delivered while discharging (I > 0)",
        "energy": "energy delivered while discharging",
        "max_temperature": "maximum lumped cell temperature",
        "anode_overpotential_min": "minimum over time of phi_s - phi_e at the negative electrode/separator interface",
        "anode_current_density": "interfacial current density j at the negative electrode/separator interface "
                                 "at the time of anode_overpotential_min (per particle surface area)",
        "final_voltage": "terminal voltage at the end of the experiment",
        "duration": "simulated time",
    }
    method = (f"DFN/P2D finite volumes ({cfg.mesh.x_n}/{cfg.mesh.x_s}/{cfg.mesh.x_p} x, "
              f"{cfg.mesh.r_n}/{cfg.mesh.r_p} r), PETSc TS, rtol {cfg.rtol:g}, set {params.name}"
              + (", lumped thermal" if cfg.thermal else ", isothermal"))
    parameters = {k: Parameter(v, u, descriptions[k], method) for k, (v, u) in res.summary.items()}
    results = {"series": {k: (v, u) if u else v for k, (v, u) in res.series.items()},
               "steps": np.array(res.step_reasons, dtype="S")}
    write_params(out / "cell.h5", "cell", parameters, results=results, config=config_text(config_path),
                 inputs=inputs, comm=comm)
    if cfg.plots and comm.rank == 0:
        series_png(out / "cell.png", res, f"{params.name}: " + ", ".join(res.step_reasons))
    log.info("wrote %s: %.4f A h, %.3f W h, min anode overpotential %.1f mV", out / "cell.h5",
             res["discharge_capacity"], res["energy"], 1e3 * res["anode_overpotential_min"])
    return out / "cell.h5"

