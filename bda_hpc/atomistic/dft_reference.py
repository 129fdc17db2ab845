"""Li properties that the DFT data set itself implies (for the comparison table of the stage).

What can be derived, and how (all from `outputs.energy` and `outputs.virial_stress` of
the Materials Virtual Lab entries; virial_stress is kbar, compression positive, order
XX YY ZZ XY YZ ZX):
* C11, C12: slopes of the uniaxial "Elastic" cells' stresses (modes 1-3) against strain.
* C44: from the shear cells' energies, E - E0 = V C44 gamma^2 / 2 per atom (modes 4-6; their
  stresses change sign between strains 0.005 and 0.01, so they are not used).
* bulk modulus (C11 + 2 C12) / 3; lattice constant from the ground-state cell's residual
  pressure, a0 = a (1 + P / 3B).
* vacancy formation energy: <E_53> - 53/54 <E_54> from 300 K AIMD snapshots in cells of the same
  volume (harmonic thermal energies cancel); standard error from the snapshot scatter.
* surface energies of (100), (110), (111) slabs: (E_slab - N e_bulk) / 2A, e_bulk of the
  ground-state cell.
Not derivable from these data: fcc/hcp energies, the migration barrier, diffusion.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .properties import EV_PER_A3_TO_GPA
from .properties_defects import EV_PER_A2_TO_J_PER_M2

KBAR_TO_GPA = 0.1


def _entries(paths):
    out = []
    for p in paths:
        out += json.loads(Path(p).read_text())
    return out


def _tension_gpa(entry):
    return -np.array(entry["outputs"]["virial_stress"]) * KBAR_TO_GPA  # VASP order, tension positive


def _cell(entry):
    return np.array(entry["structure"]["lattice"]["matrix"])


def dft_reference(paths) -> dict:
    """{name: (value, uncertainty or None, how)} in eV, Å, GPa, J/m^2."""
    data = _entries(paths)
    out = {}
    elastic = [e for e in data if e.get("group") == "Elastic"]
    ground = next((e for e in elastic if "Ground state" in e.get("description", "")), None)
    if ground is None:
        return out
    n0 = ground["num_atoms"]
    e0 = ground["outputs"]["energy"] / n0
    v_atom = abs(np.linalg.det(_cell(ground))) / n0
    modes = {}
    for e in elastic:
        m = re.search(r"mode (\d), strain (-?[\d.]+)", e.get("description", ""))
        if m:
            modes.setdefault(int(m.group(1)), []).append((float(m.group(2)), e))
    c11, c12 = [], []
    for mode in (1, 2, 3):
        pts = modes.get(mode, []) + [(0.0, ground)]
        eps = np.array([s for s, _ in pts])
        sig = np.array([_tension_gpa(e)[:3] for _, e in pts])
        axis = mode - 1
        c11.append(np.polyfit(eps, sig[:, axis], 1)[0])
        c12 += [np.polyfit(eps, sig[:, k], 1)[0] for k in range(3) if k != axis]
    c44 = []
    for mode in (4, 5, 6):
        pts = modes.get(mode, [])
        gamma2 = np.array([(2 * s) ** 2 for s, _ in pts])
        de = np.array([e["outputs"]["energy"] / e["num_atoms"] - e0 for _, e in pts])
        if len(pts):
            c44.append(2 * np.sum(de * gamma2) / np.sum(gamma2**2) / v_atom * EV_PER_A3_TO_GPA)
    how_c = "slope of DFT stress vs strain, uniaxial Elastic cells (modes 1-3)"
    out["c11"] = (float(np.mean(c11)), float(np.std(c11)), how_c)
    out["c12"] = (float(np.mean(c12)), float(np.std(c12)), how_c)
    out["c44"] = (float(np.mean(c44)), float(np.std(c44)), "DFT energy vs shear strain, Elastic cells (modes 4-6)")
    bulk_modulus = (out["c11"][0] + 2 * out["c12"][0]) / 3
    out["bulk_modulus"] = (bulk_modulus, None, "(C11 + 2 C12) / 3 of the DFT values")
    pressure = -np.mean(_tension_gpa(ground)[:3])
    a_gs = (2 * v_atom) ** (1 / 3)
    out["lattice_constant"] = (
        a_gs * (1 + pressure / (3 * bulk_modulus)),
        None,
        f"ground-state cell a = {a_gs:.4f} Å corrected by its pressure {pressure:.3f} GPa",
    )
    out["vacancy_formation_energy"] = _vacancy(data)
    for hkl, tag in (("100", "(1_0_0)"), ("110", "(1_1_0)"), ("111", "(1_1_1)")):
        slab = next((e for e in data if e.get("group") == "Surface" and tag in e.get("description", "")), None)
        if slab is not None:
            cell = _cell(slab)
            area = np.linalg.norm(np.cross(cell[0], cell[1]))
            gamma = (slab["outputs"]["energy"] - slab["num_atoms"] * e0) / (2 * area) * EV_PER_A2_TO_J_PER_M2
            out[f"surface_energy_{hkl}"] = (float(gamma), None, f"DFT slab {tag}, {slab['num_atoms']} atoms")
    return out


def _vacancy(data):
    vac = [e for e in data if e.get("group") == "Vacancy" and "300 K" in e.get("description", "")]
    if not vac:
        return None
    volume = abs(np.linalg.det(_cell(vac[0])))
    full = [
        e
        for e in data
        if e.get("group") == "AIMD-NVT"
        and " 300 " in e.get("description", "") + " "
        and abs(abs(np.linalg.det(_cell(e))) - volume) < 1e-3 * volume
    ]
    if not full:
        return None
    ev = np.array([e["outputs"]["energy"] for e in vac])
    ef = np.array([e["outputs"]["energy"] for e in full])
    n = full[0]["num_atoms"]
    value = ev.mean() - (n - 1) / n * ef.mean()
    unc = np.sqrt(ev.var(ddof=1) / len(ev) + ((n - 1) / n) ** 2 * ef.var(ddof=1) / len(ef))
    return (
        float(value),
        float(unc),
        f"<E_{n - 1}> - {n - 1}/{n} <E_{n}>, 300 K AIMD snapshots ({len(vac)} with, {len(full)} without vacancy)",
    )
