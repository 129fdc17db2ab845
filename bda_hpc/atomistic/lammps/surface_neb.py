"""Adatom hops on bcc Li (100) and (110) by climbing-image NEB, with a harmonic-TST rate.

The elementary events are the shortest surface-lattice translations of the adatom (hop; on (110)
also the next-shortest, along [001]) and, on (100), the exchange with a surface atom (the adatom
takes the surface site, the surface atom pops out to the diagonally opposite hollow). Each gets a
barrier E_b from a climbing-image NEB and a Vineyard attempt frequency from the Hessian of the moving
atom(s) (adatom; for the exchange also the surface atom) at the minimum and the saddle, the rest held
at its relaxed positions (the coupling
to substrate modes is neglected: an estimate good to a factor of a few). In two dimensions

    D(T) = 1/(2d) * sum over events of  m * nu * exp(-E_b / kT) * l^2,   d = 2,

with m the number of equivalent directions and l the displacement of the adatom feature. ASE path
(NNPCalculator, the same model as the plugin): a few minutes on one core.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("bda_hpc.md")
KB_EV = 8.617333262e-5
AMU_LI = 6.94
OMEGA_UNIT = 9.82269385e13  # rad/s of sqrt(eV / (Å^2 amu))


@dataclass
class HopEvent:
    name: str
    barrier: float          # eV
    attempt_frequency: float  # Hz (Vineyard, adatom degrees of freedom)
    length: float           # Å, displacement of the adatom feature
    multiplicity: int       # equivalent directions
    path_energies: list     # eV along the band, relative to the initial state

    def rate(self, temperature: float) -> float:
        """Rate of one direction (1/s)."""
        return self.attempt_frequency * np.exp(-self.barrier / (KB_EV * temperature))


def diffusivity(events: list[HopEvent], temperature: float) -> float:
    """D (m^2/s) in the surface plane from independent hop events."""
    return sum(e.multiplicity * e.rate(temperature) * (e.length * 1e-10) ** 2 for e in events) / 4.0


def adatom_slab(facet: str, a0: float, size: int = 4, layers: int = 6, vacuum: float = 10.0):
    """Slab with the adatom (last atom) in a hollow site; the bottom two layers fixed."""
    from ase.build import add_adsorbate, bcc100, bcc110
    from ase.constraints import FixAtoms

    build = {"100": bcc100, "110": bcc110}[facet]
    slab = build("Li", size=(size, size, layers), a=a0, vacuum=vacuum)
    z = np.round(slab.positions[:, 2], 3)
    bottom = np.sort(np.unique(z))[:2]
    slab.set_constraint(FixAtoms(mask=np.isin(z, bottom)))
    add_adsorbate(slab, "Li", 1.5 if facet == "100" else 2.0, "hollow")
    return slab


def surface_translations(slab) -> list[tuple[float, np.ndarray, int]]:
    """Classes of in-plane lattice translations of the top layer: (length, one vector, count), shortest first."""
    top = slab.positions[:-1, 2] > slab.positions[:-1, 2].max() - 0.1
    p = slab.positions[:-1][top]
    cell = slab.cell.array
    vecs = []
    for q in p[1:]:
        d = q - p[0]
        for i in range(-1, 2):
            for j in range(-1, 2):
                vecs.append(d + i * cell[0] + j * cell[1])
    vecs = np.array(vecs)
    lengths = np.round(np.linalg.norm(vecs, axis=1), 3)
    out = []
    for length in np.unique(lengths)[:2]:
        members = vecs[lengths == length]
        out.append((float(length), members[0], len(members)))
    return out


def _relax(atoms, calc, fmax: float):
    from ase.optimize import FIRE

    atoms.calc = calc
    FIRE(atoms, logfile=None).run(fmax=fmax, steps=2000)
    return atoms


def _neb(calc, initial, final, images: int, fmax: float):
    from ase.mep import NEB
    from ase.optimize import FIRE

    band = [initial] + [initial.copy() for _ in range(images)] + [final]
    for image in band:
        image.calc = calc
    neb = NEB(band, allow_shared_calculator=True, method="improvedtangent")
    neb.interpolate(method="idpp", mic=True)
    # short steps (an exchange band passes atoms close to each other), the climbing image once the band is settled
    FIRE(neb, maxstep=0.05, logfile=None).run(fmax=5 * fmax, steps=1500)
    neb.climb = True
    FIRE(neb, maxstep=0.05, logfile=None).run(fmax=fmax, steps=1500)
    energies = np.array([im.get_potential_energy() for im in band])
    return energies - energies[0], band[int(np.argmax(energies))]


def _frequencies(calc, atoms, indices: list[int], h: float = 0.005) -> np.ndarray:
    """Harmonic frequencies (Hz, imaginary ones negative) of the given atoms, the others held fixed."""
    dofs = [(i, x) for i in indices for x in range(3)]
    k = np.zeros((len(dofs), len(dofs)))
    for col, (i, x) in enumerate(dofs):
        f = []
        for sign in (1, -1):
            a = atoms.copy()
            a.calc = calc
            a.positions[i, x] += sign * h
            f.append(a.get_forces()[indices].reshape(-1))
        k[:, col] = -(f[0] - f[1]) / (2 * h)
    w2 = np.linalg.eigvalsh(0.5 * (k + k.T)) / AMU_LI
    return np.sign(w2) * np.sqrt(np.abs(w2)) * OMEGA_UNIT / (2 * np.pi)


def _event(calc, name, initial, final, images, fmax, length, multiplicity, movers) -> HopEvent:
    """NEB barrier and Vineyard prefactor prod(nu_min) / prod(real nu_saddle) over the movers' modes."""
    path, saddle = _neb(calc, initial, final, images, fmax)
    nu_min = _frequencies(calc, initial, movers)
    nu_sad = np.sort(_frequencies(calc, saddle, movers))
    if nu_min.min() <= 0 or nu_sad[0] >= 0 or nu_sad[1] <= 0:
        log.warning("%s: not one unstable mode at the saddle (minimum %s, saddle %s Hz)", name, nu_min, nu_sad)
    nu = float(np.prod(nu_min / np.abs(np.append(nu_sad[1:], 1.0))))
    # from the lowest state on the band: a band that dips below its end points passes a deeper site,
    # which is where the adatom rests between hops
    event = HopEvent(name, float(path.max() - path.min()), nu, float(length), multiplicity, path.tolist())
    log.info("%s: barrier %.3f eV, attempt frequency %.3g Hz, %d directions, %.2f Å", name, event.barrier, nu,
             multiplicity, length)
    return event


def facet_events(calc, facet: str, a0: float, fmax: float = 0.01, images: int = 7) -> list[HopEvent]:
    """NEB hop (and on (100) exchange) events of an adatom on ``facet``."""
    slab = adatom_slab(facet, a0)
    classes = surface_translations(slab)  # of the ideal lattice
    initial = _relax(slab, calc, fmax)
    events = []
    for k, (length, vec, count) in enumerate(classes if facet == "110" else classes[:1]):
        final = initial.copy()
        final.positions[-1] += vec
        final.wrap()
        events.append(_event(calc, f"({facet}) hop {k + 1}", initial, _relax(final, calc, fmax), images, fmax,
                             length, count, [len(initial) - 1]))
    if facet == "100":
        events.append(_exchange(calc, initial, fmax, images))
    return events


def _exchange(calc, initial, fmax, images) -> HopEvent:
    """(100): the adatom goes into the site of a surface neighbour, which goes to the opposite hollow."""
    ad = len(initial) - 1
    top = np.where(initial.positions[:-1, 2] > initial.positions[:-1, 2].max() - 0.8)[0]  # layers a/2 apart
    d = initial.get_distances(ad, top, mic=True, vector=True)
    s = top[np.argmin(np.linalg.norm(d[:, :2], axis=1))]
    dxy = initial.get_distance(ad, s, mic=True, vector=True) * [1, 1, 0]
    final = initial.copy()
    final.positions[ad] = initial.positions[s]
    final.positions[s] = initial.positions[ad] + 2 * dxy
    final.wrap()
    return _event(calc, "(100) exchange", initial, _relax(final, calc, fmax), images, fmax,
                  float(np.linalg.norm(2 * dxy)), 4, [ad, int(s)])
