"""Bulk properties of Li with any ASE calculator: bcc/fcc/hcp energies and volumes, bulk modulus, Cij.

Every function takes a calculator and returns plain numbers (eV, Å, eV/Å^3) with an
uncertainty estimate where one applies (the spread between fits that should agree).
"""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.eos import EquationOfState
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

EV_PER_A3_TO_GPA = 160.21766208


def relax(atoms, calc, fmax: float, cell: bool = False, steps: int = 500):
    """Relax positions (and the cell when cell=True) with BFGS; returns the atoms."""
    atoms.calc = calc
    target = FrechetCellFilter(atoms) if cell else atoms
    BFGS(target, logfile=None).run(fmax=fmax, steps=steps)
    return atoms


def equation_of_state(atoms, calc, strain: float = 0.03, points: int = 9) -> dict:
    """E(V) scan around the given cell (isotropic), Birch–Murnaghan fit; the stabilized jellium EOS for the spread."""
    cell0 = atoms.cell.array.copy()
    volumes, energies = [], []
    for s in np.linspace(1 - strain, 1 + strain, points):
        a = atoms.copy()
        a.set_cell(cell0 * s, scale_atoms=True)
        a.calc = calc
        volumes.append(a.get_volume() / len(a))
        energies.append(a.get_potential_energy() / len(a))
    fits = {}
    for form in ("birchmurnaghan", "sj"):
        eos = EquationOfState(volumes, energies, eos=form)
        v0, e0, b = eos.fit()
        fits[form] = (v0, e0, b)
    v0, e0, b = fits["birchmurnaghan"]
    v1, e1, b1 = fits["sj"]
    return {
        "volume": v0,
        "energy": e0,
        "bulk_modulus": b,
        "volume_unc": abs(v0 - v1),
        "energy_unc": abs(e0 - e1),
        "bulk_modulus_unc": abs(b - b1),
        "volumes": volumes,
        "energies": energies,
    }


def bcc_lattice(calc, a_guess: float = 3.43, strain: float = 0.01) -> dict:
    """bcc a0, E0 and B0 from E(V) within ±strain (lattice) of the minimum, fitted twice.

    The first scan finds the minimum, the second is centred on it. B0 is a curvature at the
    minimum, so the scan is kept small; the uncertainty also holds the change when the scan is
    twice as wide (the fitted form cannot follow E(V) far from the minimum).
    """
    first = equation_of_state(bulk("Li", "bcc", a=a_guess, cubic=True), calc, strain=3 * strain)
    a_min = (2 * first["volume"]) ** (1 / 3)
    out = equation_of_state(bulk("Li", "bcc", a=a_min, cubic=True), calc, strain=strain)
    wide = equation_of_state(bulk("Li", "bcc", a=a_min, cubic=True), calc, strain=2 * strain)
    for key in ("volume", "energy", "bulk_modulus"):
        out[f"{key}_unc"] = max(out[f"{key}_unc"], abs(out[key] - wide[key]))
    out["lattice_constant"] = (2 * out["volume"]) ** (1 / 3)
    out["lattice_constant_unc"] = out["lattice_constant"] * out["volume_unc"] / (3 * out["volume"])
    return out


def phase_energies(calc, a_bcc: float, fmax: float) -> dict:
    """Relaxed (cell and positions) energy per atom of bcc, fcc and hcp, and fcc/hcp minus bcc."""
    v = a_bcc**3 / 2  # start all three at the bcc volume per atom
    a_hcp = (np.sqrt(2) * v) ** (1 / 3)  # ideal c/a: v = a^3 / sqrt(2)
    structures = {
        "bcc": bulk("Li", "bcc", a=a_bcc, cubic=True),
        "fcc": bulk("Li", "fcc", a=(4 * v) ** (1 / 3), cubic=True),
        "hcp": bulk("Li", "hcp", a=a_hcp, c=np.sqrt(8 / 3) * a_hcp),
    }
    out = {}
    for name, atoms in structures.items():
        relax(atoms, calc, fmax, cell=True)
        out[f"energy_{name}"] = atoms.get_potential_energy() / len(atoms)
        out[f"volume_{name}"] = atoms.get_volume() / len(atoms)
    out["energy_fcc_minus_bcc"] = out["energy_fcc"] - out["energy_bcc"]
    out["energy_hcp_minus_bcc"] = out["energy_hcp"] - out["energy_bcc"]
    return out


def elastic_constants(calc, a0: float, strains=(0.005, 0.01)) -> dict:
    """C11, C12, C44 of relaxed bcc from stress-strain (central differences, cubic averaging).

    The uncertainty is the change between the smallest and the largest strain.
    """
    base = bulk("Li", "bcc", a=a0, cubic=True)
    results = []
    for eps in strains:
        c11 = c12 = c44 = 0.0
        for axis in range(3):
            sig = []
            for sign in (1, -1):
                a = base.copy()
                d = np.eye(3)
                d[axis, axis] += sign * eps
                a.set_cell(base.cell.array @ d, scale_atoms=True)
                a.calc = calc
                sig.append(a.get_stress(voigt=True))  # ASE: tension positive, so sigma = C eps
            ds = (sig[0] - sig[1]) / (2 * eps)
            c11 += ds[axis] / 3
            c12 += sum(ds[k] for k in range(3) if k != axis) / 6
            shear = []
            for sign in (1, -1):
                a = base.copy()
                d = np.eye(3)
                j, k = [(1, 2), (0, 2), (0, 1)][axis]
                d[j, k] = d[k, j] = sign * eps / 2  # engineering shear gamma = eps
                a.set_cell(base.cell.array @ d, scale_atoms=True)
                a.calc = calc
                shear.append(a.get_stress(voigt=True)[3 + axis])
            c44 += (shear[0] - shear[1]) / (2 * eps) / 3
        results.append((c11, c12, c44))
    (c11, c12, c44), (d11, d12, d44) = results[0], results[-1]
    return {
        "c11": c11,
        "c12": c12,
        "c44": c44,
        "c11_unc": abs(c11 - d11),
        "c12_unc": abs(c12 - d12),
        "c44_unc": abs(c44 - d44),
        "bulk_modulus_elastic": (c11 + 2 * c12) / 3,
    }
