"""Typed settings of the `mlff` TOML table ([mlff.descriptors], [mlff.training], [mlff.properties]).

Relative paths in the file are taken relative to the config file's directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .descriptors import DescriptorSet


@dataclass
class DescriptorSettings:
    cutoff: float = 5.2
    # defaults = the shipped model's set (examples/mlff_li.toml): benchmarks time random models of it
    g2_centered_eta: list[float] = field(
        default_factory=lambda: [0.001, 0.004, 0.01, 0.02, 0.035, 0.06, 0.1, 0.18, 0.3])
    g2_shifted_rs: list[float] = field(default_factory=lambda: [round(2.2 + 0.2 * k, 1) for k in range(15)])
    g2_shifted_eta: float = 4.0
    g4_eta: list[float] = field(default_factory=lambda: [0.002, 0.015, 0.04])
    g4_zeta: list[float] = field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0])
    g4_lambda: list[float] = field(default_factory=lambda: [-1.0, 1.0])

    def build(self) -> DescriptorSet:
        return DescriptorSet.from_grid(
            self.cutoff,
            self.g2_centered_eta,
            self.g2_shifted_rs,
            self.g2_shifted_eta,
            self.g4_eta,
            self.g4_zeta,
            self.g4_lambda,
        )

    def validate(self) -> list[str]:
        return self.build().problems()


@dataclass
class TrainingSettings:
    training_data: str = "../../shared/data/li_dft_mlearn/training.json"
    test_data: str = ""  # optional: errors on it are stored in the model's provenance
    output: str = "li_nnp.h5"  # relative to --out-dir
    hidden: list[int] = field(default_factory=lambda: [24, 24])
    seed: int = 2026
    validation_fraction: float = 0.1
    epochs: int = 400
    batch_structures: int = 16
    learning_rate: float = 5e-3
    min_learning_rate: float = 1e-5
    lr_patience: int = 15  # epochs without validation gain before the rate halves
    patience: int = 60  # early stopping: epochs without validation gain
    energy_weight: float = 1.0  # loss = w_E mean((dE/N)^2) + w_F mean(dF^2), eV and eV/Å
    force_weight: float = 0.02
    stress_weight: float = 0.0  # + w_S mean(dsigma^2), sigma in GPa (0: energies and forces only)
    threads: int = 1  # torch threads (1: the machine is shared; more threads rarely pay for these small nets)
    checkpoint_every: int = 25

    def validate(self) -> list[str]:
        out = []
        if not 0 < self.validation_fraction < 1:
            out.append(f"validation_fraction: must be in (0, 1), got {self.validation_fraction}")
        for key in ("epochs", "batch_structures", "patience", "threads", "checkpoint_every"):
            if getattr(self, key) < 1:
                out.append(f"{key}: must be >= 1, got {getattr(self, key)}")
        for key in ("learning_rate", "energy_weight"):
            if not getattr(self, key) > 0:
                out.append(f"{key}: must be positive, got {getattr(self, key)}")
        for key in ("force_weight", "stress_weight"):
            if getattr(self, key) < 0:
                out.append(f"{key}: must be >= 0, got {getattr(self, key)}")
        if not self.hidden or min(self.hidden) < 1:
            out.append(f"hidden: needs at least one layer of width >= 1, got {self.hidden}")
        return out


@dataclass
class PropertiesSettings:
    supercell: int = 3  # bcc cubic repeats for vacancy and NEB (2 a0 ... 4 a0)
    slab_layers: int = 9  # minimum atomic layers of surface slabs
    vacuum: float = 12.0  # Å
    fmax: float = 0.005  # eV/Å, relaxation tolerance
    neb_images: int = 5
    md_temperatures: list[float] = field(default_factory=lambda: [250.0, 300.0, 350.0, 400.0])  # below melting (454 K)
    md_supercell: int = 3  # bcc cubic repeats for diffusion MD, one vacancy
    md_time_ps: float = 10.0
    md_timestep_fs: float = 2.0
    md_equilibration_ps: float = 2.0
    seed: int = 11

    def validate(self) -> list[str]:
        out = []
        if len(self.md_temperatures) < 3:
            out.append("md_temperatures: an Arrhenius fit needs at least three temperatures")
        if min(self.md_temperatures, default=1) <= 0:
            out.append("md_temperatures: must be positive")
        if self.supercell < 2 or self.md_supercell < 2:
            out.append("supercell, md_supercell: must be >= 2")
        if self.neb_images < 1:
            out.append("neb_images: must be >= 1")
        return out


@dataclass
class MlffSettings:
    descriptors: DescriptorSettings = field(default_factory=DescriptorSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    properties: PropertiesSettings = field(default_factory=PropertiesSettings)


def load_settings(path: str | None) -> MlffSettings:
    from ..config import load_section

    return load_section(path, "mlff", MlffSettings)


def resolve(path: str, config_path: str | None) -> Path:
    """A path from the config, relative to the config file's directory."""
    p = Path(path)
    if p.is_absolute() or not config_path:
        return p
    return Path(config_path).resolve().parent / p
