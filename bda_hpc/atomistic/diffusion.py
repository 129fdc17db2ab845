"""Self-diffusion of bcc Li from MD with one vacancy, and the Arrhenius fit.

MD (Langevin NVT, ASE) in a supercell with one vacancy gives the tracer diffusivity of
the atoms at a vacancy site fraction 1/N: D_cell(T) = MSD / (6 t) (slope of a linear fit
after equilibration). Its Arrhenius energy is the effective migration energy. Equilibrium
self-diffusion scales it to the thermal vacancy fraction exp(-E_f / kT) (formation entropy
neglected): D_self = N D_cell exp(-E_f / kT), whose Arrhenius energy is E_f + E_m.
"""

from __future__ import annotations

import logging

import numpy as np
from ase import units
from ase.build import bulk
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from ..errors import SolverError

log = logging.getLogger("bda_hpc.atomistic")
KB = 8.617333262e-5  # eV/K


def vacancy_md_diffusivity(
    calc, a0: float, n: int, temperature: float, time_ps: float, timestep_fs: float, equilibration_ps: float, seed: int
) -> dict:
    """D_cell (Å^2/ps) at one temperature from the MSD of all atoms (unwrapped positions)."""
    atoms = bulk("Li", "bcc", a=a0, cubic=True).repeat((n, n, n))
    del atoms[0]
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature, friction=0.01 / units.fs, rng=rng)
    dyn.run(int(round(equilibration_ps * 1000 / timestep_fs)))
    start = atoms.get_positions().copy()  # ASE keeps positions unwrapped during MD
    every = max(1, int(round(50 / timestep_fs)))  # sample every 50 fs
    times, msd = [0.0], [0.0]
    nsteps = int(round(time_ps * 1000 / timestep_fs))
    for k in range(nsteps // every):
        dyn.run(every)
        times.append((k + 1) * every * timestep_fs / 1000)
        msd.append(float(np.mean(np.sum((atoms.get_positions() - start) ** 2, axis=1))))
        if (k + 1) % max(1, nsteps // every // 5) == 0:
            log.info("MD %g K: %.1f of %.1f ps, MSD %.3f Å^2", temperature, times[-1], time_ps, msd[-1])
    times, msd = np.array(times), np.array(msd)
    half = len(times) // 5  # skip the ballistic/vibrational start
    slope, _ = np.polyfit(times[half:], msd[half:], 1)
    # uncertainty: slopes of the two halves of the fitted window
    mid = (half + len(times)) // 2
    s1 = np.polyfit(times[half:mid], msd[half:mid], 1)[0]
    s2 = np.polyfit(times[mid:], msd[mid:], 1)[0]
    return {
        "temperature": temperature,
        "d_cell": slope / 6,
        "d_cell_unc": abs(s1 - s2) / 6,
        "atoms": len(atoms),
        "times": times,
        "msd": msd,
    }


def equilibrium_self_diffusion(temperatures, d_cell, vacancy_fraction: float, formation_energy: float) -> np.ndarray:
    """D_self(T) = D_cell(T) c_v(T) / c_sim with c_v = exp(-E_f / kT) (eV; formation entropy neglected).

    The tracer diffusivity in a cell with a fixed vacancy site fraction c_sim is proportional to
    it (correlation factor included, since every atom's MSD is counted); equilibrium has c_v(T).
    """
    T = np.asarray(temperatures, float)
    return np.asarray(d_cell, float) / vacancy_fraction * np.exp(-formation_energy / (KB * T))


def arrhenius(temperatures, diffusivities) -> dict:
    """Fit D = D0 exp(-Ea / kT): returns D0 (units of D), Ea (eV) and their standard errors."""
    T, D = np.asarray(temperatures, float), np.asarray(diffusivities, float)
    if np.any(D <= 0):
        raise SolverError(f"Arrhenius fit needs positive diffusivities, got {D.tolist()} at T = {T.tolist()} K")
    if len(T) < 3:
        raise SolverError("Arrhenius fit needs at least three temperatures")
    X = np.column_stack([1 / (KB * T), np.ones_like(T)])
    coef, *_ = np.linalg.lstsq(X, np.log(D), rcond=None)
    slope, intercept = coef
    residual_var = np.sum((X @ coef - np.log(D)) ** 2) / (len(T) - 2)
    cov = residual_var * np.linalg.inv(X.T @ X)
    d0 = float(np.exp(intercept))
    return {
        "prefactor": d0,
        "activation_energy": float(-slope),
        "activation_energy_unc": float(np.sqrt(cov[0, 0])),
        "prefactor_unc": float(d0 * np.sqrt(cov[1, 1])),
    }
