"""Typed settings of the `[md]` TOML table (`bda-hpc md --config ...`).

Units as LAMMPS metal: K, bar, ps, Å. Relative paths are taken relative to the config file.
Each task table has `enabled`; `bda-hpc md --task NAME` runs one task regardless.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


def _positive(obj, keys) -> list[str]:
    return [f"{k}: must be positive, got {getattr(obj, k)}" for k in keys if not getattr(obj, k) > 0]


@dataclass
class RunSettings:
    """[md.run]: one MD run of a bcc Li crystal (NVE/NVT/NPT), dumps for OVITO, restart files."""
    enabled: bool = True
    ensemble: Literal["nve", "nvt", "npt"] = "nvt"
    temperature: float = 300.0          # K (initial velocities; thermostat target for nvt/npt)
    pressure: float = 0.0               # bar (npt)
    repeat: list[int] = field(default_factory=lambda: [10, 10, 10])   # bcc conventional cells
    steps: int = 2000
    thermo_every: int = 50
    dump_every: int = 500
    restart_every: int = 500

    def validate(self) -> list[str]:
        out = _positive(self, ("temperature", "steps", "thermo_every", "dump_every", "restart_every"))
        if len(self.repeat) != 3 or min(self.repeat) < 1:
            out.append(f"repeat: three positive integers, got {self.repeat}")
        if self.pressure < 0 and self.ensemble == "npt":
            out.append(f"pressure: must be >= 0 bar for npt, got {self.pressure}")
        return out


@dataclass
class DiffusionSettings:
    """[md.diffusion]: self-diffusion from the MSD at several temperatures -> Arrhenius D0, Q."""
    enabled: bool = True
    temperatures: list[float] = field(default_factory=lambda: [350.0, 400.0, 450.0])
    repeat: list[int] = field(default_factory=lambda: [18, 18, 18])   # 11,664 atoms
    vacancies: int = 12                 # removed at random: diffusion in bcc Li is vacancy-mediated
    equilibration_steps: int = 2000
    steps: int = 20000
    sample_every: int = 100

    def validate(self) -> list[str]:
        out = _positive(self, ("steps", "sample_every"))
        if len(self.temperatures) < 2 or min(self.temperatures) <= 0:
            out.append(f"temperatures: at least two positive values for an Arrhenius fit, got {self.temperatures}")
        if len(self.repeat) != 3 or min(self.repeat) < 1:
            out.append(f"repeat: three positive integers, got {self.repeat}")
        if not 0 <= self.vacancies < 2 * self.repeat[0] * self.repeat[1] * self.repeat[2] // 10:
            out.append(f"vacancies: must be in [0, 10 % of the atoms), got {self.vacancies}")
        return out


@dataclass
class SurfaceSettings:
    """[md.surface]: one adatom on (100) and (110) slabs at several temperatures, its in-plane MSD ->
    D(T) and an Arrhenius fit per facet; NEB hop/exchange barriers with a harmonic-TST rate as the
    cross-check (and the estimate where MD sees no hops). li_metal.h5 gets D at reference_temperature."""
    enabled: bool = True
    temperatures_100: list[float] = field(default_factory=lambda: [250.0, 300.0, 350.0])   # [] skips the facet
    temperatures_110: list[float] = field(default_factory=lambda: [200.0, 250.0, 300.0])
    reference_temperature: float = 300.0
    neb: bool = True                    # NEB + harmonic TST (ASE path, minutes on one core)
    size: list[int] = field(default_factory=lambda: [6, 6])   # in-plane repeats
    layers: int = 8
    vacuum: float = 12.0                # Å
    equilibration_steps: int = 1000
    steps: int = 20000
    sample_every: int = 50

    def validate(self) -> list[str]:
        out = _positive(self, ("reference_temperature", "layers", "vacuum", "steps", "sample_every"))
        for facet in ("100", "110"):
            temps = getattr(self, f"temperatures_{facet}")
            if any(T <= 0 for T in temps):
                out.append(f"temperatures_{facet}: must be positive, got {temps}")
        return out


@dataclass
class DepositionSettings:
    """[md.deposition]: Li atoms added above a (100) surface at a set rate; roughness against time."""
    enabled: bool = True
    temperature: float = 300.0
    size: list[int] = field(default_factory=lambda: [8, 8])
    layers: int = 6
    atoms: int = 128                    # number deposited
    interval: int = 500                 # steps between insertions (rate = 1 / (interval dt))
    energy: float = 0.1                 # eV, incoming kinetic energy (normal)
    dump_every: int = 1000

    def validate(self) -> list[str]:
        return _positive(self, ("temperature", "layers", "atoms", "interval", "energy", "dump_every"))


@dataclass
class MDSettings:
    model: str = ""                     # HDF5 or .nnp model; "" = the model shipped with the package
    plugin: str = ""                    # "" = build/lammps/bda_nnp.so (make lammps-plugin)
    nprocs: int = 2
    timestep: float = 0.001             # ps
    lattice_constant: float = 3.44      # Å, bcc start geometry (relaxed by npt when wanted)
    seed: int = 2026
    thermostat_damping: float = 0.1     # ps
    barostat_damping: float = 1.0       # ps
    run: RunSettings = field(default_factory=RunSettings)
    diffusion: DiffusionSettings = field(default_factory=DiffusionSettings)
    surface: SurfaceSettings = field(default_factory=SurfaceSettings)
    deposition: DepositionSettings = field(default_factory=DepositionSettings)

    def validate(self) -> list[str]:
        return _positive(self, ("nprocs", "timestep", "lattice_constant", "thermostat_damping", "barostat_damping"))
