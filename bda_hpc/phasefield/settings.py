"""The ``[phasefield]`` TOML table (see examples/dendrite_2d.toml) as dataclasses."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from .li_params import LiPhysical


@dataclass
class LiSetup:
    """Geometry of the initial deposit (µm): a flat front, optional nuclei and seeded noise."""

    front: float = 20.0
    nuclei: list[list[float]] = field(default_factory=list)  # [y, (z,) radius] per bump on the front
    noise: float = 0.0
    seed: int = 1

    def validate(self) -> list[str]:
        problems = []
        if self.front <= 0:
            problems.append(f"front: must be positive, got {self.front}")
        if self.noise < 0:
            problems.append(f"noise: must be >= 0, got {self.noise}")
        return problems


@dataclass
class CahnHilliardSetup:
    variant: Literal["a", "b"] = "a"
    mobility: float = 5.0
    kappa: float = 2.0

    def validate(self) -> list[str]:
        return [f"{k}: must be positive, got {v}" for k, v in (("mobility", self.mobility), ("kappa", self.kappa))
                if not v > 0]


@dataclass
class PhaseFieldSettings:
    model: Literal["li_deposition", "cahn_hilliard"] = "li_deposition"
    cells: list[int] = field(default_factory=lambda: [200, 200])      # x first
    spacing: list[float] = field(default_factory=lambda: [1.0, 1.0])  # µm (Li) or model units
    processors: list[int] = field(default_factory=list)              # ranks per axis; [] lets PETSc choose
    t_end: float = 400.0
    dt_initial: float = 1e-3
    dt_max: float = 1.0
    output_interval: float = 20.0
    checkpoint_every: int = 1          # outputs between checkpoints
    snapshots: bool = True             # PNG of ξ and c at each output (2D; mid-plane in 3D)
    progress_seconds: float = 10.0
    # µm (Li): the run ends (a short circuit) when the tip comes this close to the counter electrode at the far
    # x face; 0 = 6 interface lengths ℓ, where ξ's tail at the face is ~e⁻⁶ and the boundary begins to hold the tip
    short_circuit_gap: float = 0.0
    physics: LiPhysical = field(default_factory=LiPhysical)
    setup: LiSetup = field(default_factory=LiSetup)
    cahn_hilliard: CahnHilliardSetup = field(default_factory=CahnHilliardSetup)
    petsc: dict = field(default_factory=dict)  # defaults for -pf_* options (command line wins)
    # a named Li solver of preconditioners.LI_PRECONDITIONERS ("" = the stage's default); petsc entries win
    preconditioner: str = ""

    def validate(self) -> list[str]:
        problems = []
        if len(self.cells) not in (2, 3) or any(n < 1 for n in self.cells):
            problems.append(f"cells: need 2 or 3 positive counts, got {self.cells}")
        if len(self.spacing) != len(self.cells) or any(not h > 0 for h in self.spacing):
            problems.append(f"spacing: need one positive value per axis of cells {self.cells}, got {self.spacing}")
        if self.processors and len(self.processors) != len(self.cells):
            problems.append(f"processors: need one count per axis, got {self.processors}")
        for name in ("t_end", "dt_initial", "dt_max", "output_interval", "progress_seconds"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                problems.append(f"{name}: must be positive, got {value}")
        if self.preconditioner:
            from .preconditioners import LI_PRECONDITIONERS

            if self.model != "li_deposition" or self.preconditioner not in LI_PRECONDITIONERS:
                problems.append(f"preconditioner: {self.preconditioner!r} is not one of the li_deposition "
                                f"preconditioners {sorted(LI_PRECONDITIONERS)}")
        if not (self.short_circuit_gap >= 0 and math.isfinite(self.short_circuit_gap)):
            problems.append(f"short_circuit_gap: must be >= 0 (0 = 6 interface lengths), got {self.short_circuit_gap}")
        if self.checkpoint_every < 1:
            problems.append(f"checkpoint_every: must be >= 1, got {self.checkpoint_every}")
        return problems

    @property
    def dim(self) -> int:
        return len(self.cells)
