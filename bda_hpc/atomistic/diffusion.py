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
    d_cell, d_cell_unc = msd_diffusivity(times, msd, 3)
    return {
        "temperature": temperature,
        "d_cell": d_cell,
        "d_cell_unc": d_cell_unc,
        "atoms": len(atoms),
        "times": times,
        "msd": msd,
    }


def blocked_mean(series, min_blocks: int = 16) -> tuple[float, float]:
    """Mean of a time-correlated series and its standard error by blocking (Flyvbjerg & Petersen,
    J. Chem. Phys. 91, 461 (1989)): neighbours are averaged pairwise until the naive standard
    error stops growing, i.e. the blocks are longer than the correlation time. The level taken is
    the first whose successor does not exceed it by more than its own statistical error; with
    fewer than ``min_blocks`` blocks left, the last level that has them."""
    x = np.asarray(series, float)
    if len(x) < 2 * min_blocks:
        raise SolverError(f"block averaging needs at least {2 * min_blocks} samples, got {len(x)}")
    levels = []
    while len(x) >= min_blocks:
        n = len(x)
        se = float(np.std(x) / np.sqrt(n - 1))
        levels.append((se, se / np.sqrt(2.0 * (n - 1))))
        x = 0.5 * (x[: n // 2 * 2 : 2] + x[1 : n // 2 * 2 : 2])
    pick = next((k for k in range(len(levels) - 1) if levels[k + 1][0] <= levels[k][0] + levels[k][1]),
                len(levels) - 1)
    return float(np.mean(series)), levels[pick][0]


def msd_diffusivity(time_ps, msd, dimensions: int, skip_fraction: float = 0.2) -> tuple[float, float]:
    """D and its standard error from a single-origin MSD(t) = 2 d D t (uniform sampling).

    After the first ``skip_fraction`` of the time (ballistic start, equilibration transient),
    D = mean MSD increment / (2 d dt). For a random walk the increments are uncorrelated (each
    step is independent of the displacement so far); vibrations and correlated hops make them
    correlated in time, which :func:`blocked_mean` accounts for in the error."""
    t, m = np.asarray(time_ps, float), np.asarray(msd, float)
    keep = t >= t[0] + skip_fraction * (t[-1] - t[0])
    dt = np.diff(t[keep])
    if len(dt) and np.ptp(dt) > 1e-6 * dt.mean():
        raise SolverError("MSD samples must be evenly spaced in time")
    mean, err = blocked_mean(np.diff(m[keep]))
    return mean / (2 * dimensions * dt.mean()), err / (2 * dimensions * dt.mean())


def trajectory_diffusivity(time_ps, positions, dimensions: int, windows: int = 64, lag: int = 4,
                           skip_fraction: float = 0.2) -> tuple[float, float]:
    """D and its standard error from one trajectory (an adatom), uniform sampling.

    After the first ``skip_fraction`` of the time, the trajectory is cut into ``windows`` windows
    of length tau, each replaced by its mean position. For a random walk plus vibrations, the
    means k windows apart differ by E|m_(j+k) - m_j|^2 = 2 d D tau (k - 1/3) + c, where c (the
    vibrations left in the window means) does not depend on k; so the samples
    (|m_(j+lag) - m_j|^2 - |m_(j+1) - m_j|^2) / (2 d tau (lag - 1)) estimate D without the bias
    that vibrations give a plain squared displacement. They overlap over ``lag`` windows, a
    correlation :func:`blocked_mean` accounts for in the error."""
    t, x = np.asarray(time_ps, float), np.asarray(positions, float).reshape(len(time_ps), -1)
    keep = t >= t[0] + skip_fraction * (t[-1] - t[0])
    t, x = t[keep], x[keep]
    per = len(t) // windows
    if per < 2:
        raise SolverError(f"{len(t)} samples after the first {skip_fraction:.0%} cannot fill {windows} windows")
    means = x[: per * windows].reshape(windows, per, -1).mean(axis=1)
    tau = per * (t[1] - t[0])
    far = np.sum((means[lag:] - means[:-lag]) ** 2, axis=1)
    near = np.sum((means[1 : windows - lag + 1] - means[: windows - lag]) ** 2, axis=1)
    return blocked_mean((far - near) / (2 * dimensions * tau * (lag - 1)), min_blocks=8)


def equilibrium_self_diffusion(temperatures, d_cell, vacancy_fraction: float, formation_energy: float) -> np.ndarray:
    """D_self(T) = D_cell(T) c_v(T) / c_sim with c_v = exp(-E_f / kT) (eV; formation entropy neglected).

    The tracer diffusivity in a cell with a fixed vacancy site fraction c_sim is proportional to
    it (correlation factor included, since every atom's MSD is counted); equilibrium has c_v(T).
    """
    T = np.asarray(temperatures, float)
    return np.asarray(d_cell, float) / vacancy_fraction * np.exp(-formation_energy / (KB * T))


def arrhenius(temperatures, diffusivities, errors=None) -> dict:
    """Fit D = D0 exp(-Ea / kT): returns D0 (units of D), Ea (eV) and their standard errors.

    With ``errors`` (standard errors of D) the fit is weighted by them and the parameter errors
    come from them, scaled up by the reduced chi-square when the points scatter more than their
    errors say; without, the errors come from the scatter about the line alone."""
    T, D = np.asarray(temperatures, float), np.asarray(diffusivities, float)
    if np.any(D <= 0):
        raise SolverError(f"Arrhenius fit needs positive diffusivities, got {D.tolist()} at T = {T.tolist()} K")
    if len(T) < 3:
        raise SolverError("Arrhenius fit needs at least three temperatures")
    sigma = np.ones_like(T) if errors is None else np.asarray(errors, float) / D  # error of ln D
    X = np.column_stack([1 / (KB * T), np.ones_like(T)]) / sigma[:, None]
    y = np.log(D) / sigma
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    slope, intercept = coef
    chi2 = np.sum((X @ coef - y) ** 2) / (len(T) - 2)
    cov = (chi2 if errors is None else max(chi2, 1.0)) * np.linalg.inv(X.T @ X)
    d0 = float(np.exp(intercept))
    return {
        "prefactor": d0,
        "activation_energy": float(-slope),
        "activation_energy_unc": float(np.sqrt(cov[0, 0])),
        "prefactor_unc": float(d0 * np.sqrt(cov[1, 1])),
    }
