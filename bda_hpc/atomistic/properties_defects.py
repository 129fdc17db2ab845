"""Defects of bcc Li with any ASE calculator: vacancy formation, vacancy migration (NEB), surfaces."""

from __future__ import annotations

import numpy as np
from ase.build import bcc100, bcc110, bcc111, bulk
from ase.mep import NEB
from ase.optimize import FIRE

from .properties import relax

EV_PER_A2_TO_J_PER_M2 = 16.021766208


def _perfect(a0: float, n: int):
    return bulk("Li", "bcc", a=a0, cubic=True).repeat((n, n, n))


def vacancy_formation(calc, a0: float, n: int, fmax: float) -> dict:
    """E_f = E(N-1, relaxed) - (N-1)/N E(N) in an n x n x n cubic supercell at the bulk a0."""
    perfect = _perfect(a0, n)
    perfect.calc = calc
    e_bulk = perfect.get_potential_energy()
    vac = perfect.copy()
    del vac[0]
    e_unrelaxed = _energy(vac, calc)
    relax(vac, calc, fmax)
    nat = len(perfect)
    return {
        "vacancy_formation_energy": vac.get_potential_energy() - (nat - 1) / nat * e_bulk,
        "vacancy_formation_energy_unrelaxed": e_unrelaxed - (nat - 1) / nat * e_bulk,
        "atoms": nat,
    }


def _energy(atoms, calc):
    atoms.calc = calc
    return atoms.get_potential_energy()


def vacancy_migration(calc, a0: float, n: int, fmax: float, images: int) -> dict:
    """Nearest-neighbour vacancy hop along <111>: climbing-image NEB between relaxed end points."""
    perfect = _perfect(a0, n)
    d = np.linalg.norm(perfect.positions - perfect.positions[0], axis=1)
    d[0] = np.inf
    hop = int(np.argmin(d))  # a nearest neighbour of site 0 (a0 sqrt(3)/2 away)
    initial = perfect.copy()
    del initial[0]  # vacancy at site 0; atom `hop` is now index hop-1
    final = initial.copy()
    final.positions[hop - 1] = perfect.positions[0]  # the neighbour jumped into the vacancy
    relax(initial, calc, fmax)
    relax(final, calc, fmax)
    band = [initial] + [initial.copy() for _ in range(images)] + [final]
    for image in band:
        image.calc = calc
    # improved tangent is ASE's default; naming it silences ASE's change-of-default warning
    neb = NEB(band, climb=True, allow_shared_calculator=True, method="improvedtangent")
    neb.interpolate(method="idpp")
    FIRE(neb, logfile=None).run(fmax=max(fmax, 0.01), steps=1000)
    energies = np.array([im.get_potential_energy() for im in band])
    path = np.concatenate(
        [[0], np.cumsum([np.linalg.norm(band[k + 1].positions - band[k].positions) for k in range(len(band) - 1)])]
    )
    barrier = float(energies.max() - energies[0])
    return {
        "vacancy_migration_energy": barrier,
        "vacancy_migration_energy_unc": abs(float(energies[-1] - energies[0])),
        "neb_path": path,
        "neb_energies": energies - energies[0],
        "hop_distance": float(d[hop]),
    }


def surface_energies(calc, a0: float, e_bulk: float, layers: int, vacuum: float, fmax: float) -> dict:
    """gamma = (E_slab - N e_bulk) / (2 A), relaxed and unrelaxed, for (100), (110), (111).

    ``layers`` counts (100) layers; the other slabs get the same thickness. The uncertainty is
    the change when the slab is about two (100) layers thinner (convergence with thickness).
    """
    builders = {"100": (bcc100, 1 / 2), "110": (bcc110, 1 / np.sqrt(2)), "111": (bcc111, 1 / (2 * np.sqrt(3)))}
    out = {}
    for name, (build, spacing) in builders.items():
        values = []
        for n100 in (layers - 2, layers):
            nl = max(3, int(round(n100 * 0.5 / spacing)))
            slab = build("Li", size=(1, 1, nl), a=a0, vacuum=vacuum / 2, orthogonal=(name == "100"))
            area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
            unrelaxed = (_energy(slab, calc) - len(slab) * e_bulk) / (2 * area)
            relax(slab, calc, fmax)
            values.append(((slab.get_potential_energy() - len(slab) * e_bulk) / (2 * area), unrelaxed))
        out[f"surface_energy_{name}"] = values[-1][0] * EV_PER_A2_TO_J_PER_M2
        out[f"surface_energy_{name}_unc"] = abs(values[-1][0] - values[0][0]) * EV_PER_A2_TO_J_PER_M2
        out[f"surface_energy_{name}_unrelaxed"] = values[-1][1] * EV_PER_A2_TO_J_PER_M2
    return out
