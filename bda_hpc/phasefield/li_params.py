"""Physical (SI) parameters of the Li electrodeposition model, their scaling, and upstream inputs.

Scales (REFERENCES §1): l0 = 1 µm, t0 = 1 s, E0 = 2.5e6 J/m³; potentials in
RT/(nF); conductivities stay in S/m.

Upstream mapping:

* ``li_metal.h5`` (stage atomistic): γ(100), γ(110), γ(111) and the self
  diffusion Arrhenius pair. The cubic anisotropy γ(n) = γ0 [1 - 3δ + 4δ Σn⁴]
  gives γ100 = γ0(1+δ), γ110 = γ0(1-δ), γ111 = γ0(1-5δ/3); (γ0, γ0δ) are the
  least-squares fit to the three. With the interface length ℓ kept at the
  table's value, γ0 = √(2κ0W)/6 and ℓ = √(κ0/2W) give κ0 = 6 γ0 ℓ and
  W = 3 γ0 / ℓ. D_s = D0 exp(-Ea / RT).
* ``cell.h5`` (stage cell): ``anode_overpotential_min`` (V) is used as the
  applied potential; otherwise ``anode_current_density`` (A/m², plating
  positive) is turned into one by inverting the flat-front rate of this model,
  i = n F c_s · 6 ℓ Lη [e^{-αφ} - e^{(1-α)φ}] (bulk c = 1, no ohmic drop).
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..errors import ParameterFileError

log = logging.getLogger("bda_hpc.phasefield")

FARADAY = 96485.33212
GAS_R = 8.314462618
L0, T0, E0 = 1e-6, 1.0, 2.5e6


@dataclass
class LiPhysical:
    """SI parameters (defaults: the REFERENCES §1 table)."""

    interface_mobility: float = 2.5e-6        # L_σ, m³/(J s)
    gradient_coefficient: float = 1.25e-6     # κ0, J/m
    barrier_height: float = 4.45e6            # W, J/m³
    anisotropy: float = 0.044                 # δ (four-fold / cubic)
    reaction_constant: float = 1.0e-3         # L_η, 1/s
    transfer_coefficient: float = 0.5         # α
    electrons: int = 1                        # n
    temperature: float = 300.0                # K
    bulk_concentration: float = 1.0e3         # c0, mol/m³
    site_density: float = 7.64e4              # c_s, mol/m³
    diffusivity_electrode: float = 7.5e-13    # D_s, m²/s
    diffusivity_electrolyte: float = 3.197e-10  # D_l, m²/s
    conductivity_electrode: float = 1.0e7     # σ_s, S/m
    conductivity_electrolyte: float = 1.19    # σ_l, S/m
    applied_potential: float = -0.45          # V at the electrode
    # deposition starves below ~this Li⁺ concentration (f(c) in li_deposition); 0 = Chen et al.'s form
    ion_limit_concentration: float = 50.0     # mol/m³
    # share of σ_l carried by Li⁺ and so proportional to c (Nernst–Einstein; li_deposition.electrolyte_conductivity);
    # 0 = Chen et al.'s constant σ_l (default: 1 was measured not to remove the tip overshoot)
    conductivity_li_share: float = 0.0

    def validate(self) -> list[str]:
        problems = []
        for name in ("interface_mobility", "gradient_coefficient", "barrier_height", "reaction_constant",
                     "temperature", "bulk_concentration", "site_density", "diffusivity_electrode",
                     "diffusivity_electrolyte", "conductivity_electrode", "conductivity_electrolyte"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                problems.append(f"{name}: must be positive, got {value!r}")
        # |δ| < 1/15 keeps the interface stiffness positive (1 - 15 δ cos 4θ > 0 in 2D); a negative δ is
        # the same four-fold form rotated by 45° (bcc Li's facet energies give one).
        if not abs(self.anisotropy) < 1.0 / 15.0:
            problems.append(f"anisotropy: must be in (-1/15, 1/15) (larger values need corner regularisation), "
                            f"got {self.anisotropy!r}")
        if not (self.ion_limit_concentration >= 0 and math.isfinite(self.ion_limit_concentration)):
            problems.append(f"ion_limit_concentration: must be >= 0 (0 switches the limit off), "
                            f"got {self.ion_limit_concentration!r}")
        if not 0 <= self.conductivity_li_share <= 1:
            problems.append(f"conductivity_li_share: must be in [0, 1] (0 = constant conductivity), "
                            f"got {self.conductivity_li_share!r}")
        if not 0 < self.transfer_coefficient < 1:
            problems.append(f"transfer_coefficient: must be in (0, 1), got {self.transfer_coefficient!r}")
        if self.electrons < 1:
            problems.append(f"electrons: must be >= 1, got {self.electrons!r}")
        return problems

    @property
    def thermal_voltage(self) -> float:
        """RT/(nF) in V: the unit of the nondimensional potential."""
        return GAS_R * self.temperature / (self.electrons * FARADAY)

    @property
    def interface_length(self) -> float:
        """ℓ = √(κ0/2W) in m."""
        return math.sqrt(self.gradient_coefficient / (2.0 * self.barrier_height))

    @property
    def interface_energy(self) -> float:
        """γ = √(2 κ0 W)/6 in J/m²."""
        return math.sqrt(2.0 * self.gradient_coefficient * self.barrier_height) / 6.0


def nondimensional(p: LiPhysical) -> tuple[np.ndarray, float]:
    """The kernels' parameter vector (see :mod:`li_deposition`) and the applied potential in RT/(nF)."""
    poisson = (p.electrons * FARADAY) ** 2 * p.site_density * L0 ** 2 / (GAS_R * p.temperature * T0)
    prm = np.array([
        p.interface_mobility * E0 * T0,
        p.gradient_coefficient / (E0 * L0 ** 2),
        p.barrier_height / E0,
        p.anisotropy,
        p.reaction_constant * T0,
        p.transfer_coefficient,
        p.site_density / p.bulk_concentration,
        p.diffusivity_electrode * T0 / L0 ** 2,
        p.diffusivity_electrolyte * T0 / L0 ** 2,
        p.conductivity_electrode,
        p.conductivity_electrolyte,
        poisson,
        p.ion_limit_concentration / p.bulk_concentration,
        p.conductivity_li_share,
    ])
    return prm, p.applied_potential / p.thermal_voltage


def fit_cubic_anisotropy(g100: float, g110: float, g111: float) -> tuple[float, float]:
    """(γ0, δ) of γ(n) = γ0 [1 - 3δ + 4δ Σn⁴] fitted to three facet energies."""
    a = np.array([[1.0, 1.0], [1.0, -1.0], [1.0, -5.0 / 3.0]])
    (g0, g0d), *_ = np.linalg.lstsq(a, np.array([g100, g110, g111]), rcond=None)
    return float(g0), float(g0d / g0)


def apply_atomistic(p: LiPhysical, ps) -> tuple[LiPhysical, dict]:
    """κ0, W, δ and D_s from an atomistic parameter set; returns the new set and what was used."""
    gammas = [ps.require(f"surface_energy_{hkl}", units="J/m^2") for hkl in ("100", "110", "111")]
    g0, delta = fit_cubic_anisotropy(*gammas)
    if not abs(delta) < 1.0 / 15.0:
        raise ParameterFileError(
            f"{ps.path}: surface energies {gammas} J/m^2 give anisotropy δ = {delta:.4f}, outside (-1/15, 1/15) "
            "that the model supports", collective=True)
    ell = p.interface_length
    d0 = ps.require("self_diffusion_prefactor", units="m^2/s")
    try:
        ea = ps.require("self_diffusion_activation_energy", units="J/mol")
    except ParameterFileError:
        ea = ps.require("self_diffusion_activation_energy", units="eV") * FARADAY
    new = dataclasses.replace(p, gradient_coefficient=6.0 * g0 * ell, barrier_height=3.0 * g0 / ell,
                              anisotropy=delta, diffusivity_electrode=d0 * math.exp(-ea / (GAS_R * p.temperature)))
    used = {"gamma_100_110_111": gammas, "gamma0": g0, "delta": delta, "D_s": new.diffusivity_electrode}
    log.info("atomistic input %s: γ0 = %.4g J/m², δ = %.4f, κ0 = %.4g J/m, W = %.4g J/m³, D_s = %.3g m²/s",
             ps.path, g0, delta, new.gradient_coefficient, new.barrier_height, new.diffusivity_electrode)
    return new, used


def potential_for_current(p: LiPhysical, current_density: float) -> float:
    """Electrode potential (V) at which a flat front plates ``current_density`` (A/m², > 0 plating)."""
    rate = p.electrons * FARADAY * p.site_density * 6.0 * p.interface_length * p.reaction_constant
    a = p.transfer_coefficient

    def mismatch(phi):
        return rate * (math.exp(-a * phi) - math.exp((1 - a) * phi)) - current_density

    phi = brentq(mismatch, -60.0, 60.0)
    return phi * p.thermal_voltage


def apply_cell(p: LiPhysical, ps) -> tuple[LiPhysical, dict]:
    """Applied potential from a cell parameter set (overpotential preferred, else current density)."""
    if "anode_overpotential_min" in ps:
        eta = ps.require("anode_overpotential_min", units="V")
        log.info("cell input %s: applied potential = anode_overpotential_min = %.4g V", ps.path, eta)
        return dataclasses.replace(p, applied_potential=eta), {"used": "anode_overpotential_min", "value": eta}
    if "anode_current_density" in ps:
        i = abs(ps.require("anode_current_density", units="A/m^2"))
        phi = potential_for_current(p, i)
        log.info("cell input %s: anode_current_density %.4g A/m² -> applied potential %.4g V (flat-front "
                 "Butler-Volmer inversion)", ps.path, i, phi)
        return dataclasses.replace(p, applied_potential=phi), {"used": "anode_current_density", "value": i}
    raise ParameterFileError(f"{ps.path}: a cell parameter file needs anode_overpotential_min (V) or "
                             f"anode_current_density (A/m^2); it has: {', '.join(ps.names())}", collective=True)
