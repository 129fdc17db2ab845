"""Atomic structures and the DFT data sets (Materials Virtual Lab JSON, REFERENCES.md §4).

A malformed data file is one :class:`~bda_hpc.errors.InputError` naming the file, the
entry (index and description) and the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

KBAR_TO_EV_PER_A3 = 1e8 / 1.602176634e-19 * 1e-30  # 1 kbar = 1e8 Pa; Pa = J/m^3 -> eV/Å^3
# `outputs.virial_stress` is VASP's: kbar, compression positive, order XX YY ZZ XY YZ ZX. Checked against finite
# differences of the DFT energies of the uniaxial "Elastic" cells and, component by component, against the
# model's stress on the AIMD cells (correlation -0.97 to -0.98 for all six components). This maps it to ASE Voigt
# order xx yy zz yz xz xy with tension positive.
VASP_TO_ASE_VOIGT = [0, 1, 2, 4, 5, 3]


@dataclass
class Structure:
    symbols: list
    positions: np.ndarray  # (N, 3) Å
    cell: np.ndarray  # (3, 3) Å, rows are lattice vectors
    pbc: tuple = (True, True, True)
    energy: float | None = None  # eV, total
    forces: np.ndarray | None = None  # (N, 3) eV/Å
    group: str = ""
    name: str = ""
    stress: np.ndarray | None = None  # (6,) eV/Å^3, ASE Voigt order, tension positive
    stress_mask: np.ndarray | None = None  # (6,) bool: components fit to train on

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def from_atoms(cls, atoms, name: str = "") -> Structure:
        return cls(
            list(atoms.get_chemical_symbols()),
            np.array(atoms.positions, float),
            np.array(atoms.cell.array, float),
            tuple(bool(p) for p in atoms.pbc),
            name=name,
        )

    def to_atoms(self):
        from ase import Atoms

        return Atoms(self.symbols, positions=self.positions, cell=self.cell, pbc=self.pbc)


def _entry_array(entry, keys, shape, where):
    value = entry
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise InputError(f"{where}: missing field '{'.'.join(keys)}'")
        value = value[key]
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{where}: field '{'.'.join(keys)}' is not numeric") from None
    if shape is not None and arr.shape != shape:
        raise InputError(f"{where}: field '{'.'.join(keys)}' has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{where}: field '{'.'.join(keys)}' has non-finite values")
    return arr


def _parse_entry(entry, index, path) -> Structure:
    label = entry.get("description", "") if isinstance(entry, dict) else ""
    where = f"{path}: entry {index}" + (f" ({label})" if label else "")
    if not isinstance(entry, dict):
        raise InputError(f"{where}: not a JSON object")
    sites = entry.get("structure", {}).get("sites") if isinstance(entry.get("structure"), dict) else None
    if not isinstance(sites, list) or not sites:
        raise InputError(f"{where}: missing or empty field 'structure.sites'")
    symbols, xyz = [], []
    for k, site in enumerate(sites):
        try:
            symbols.append(str(site["species"][0]["element"]))
            xyz.append([float(v) for v in site["xyz"]])
        except (KeyError, IndexError, TypeError, ValueError):
            raise InputError(f"{where}: field 'structure.sites[{k}]' lacks species[0].element or xyz") from None
    positions = np.array(xyz)
    if positions.shape != (len(sites), 3):
        raise InputError(f"{where}: field 'structure.sites[].xyz' must hold 3 coordinates per site")
    cell = _entry_array(entry, ["structure", "lattice", "matrix"], (3, 3), where)
    energy = float(_entry_array(entry, ["outputs", "energy"], (), where))
    forces = _entry_array(entry, ["outputs", "forces"], (len(sites), 3), where)
    stress, mask = _stress(entry, where)
    return Structure(
        symbols,
        positions,
        cell,
        (True, True, True),
        energy,
        forces,
        str(entry.get("group", "")),
        label or f"entry {index}",
        stress,
        mask,
    )


def _stress(entry, where):
    """ASE-convention stress and its trainable components, or (None, None) without `outputs.virial_stress`."""
    if "virial_stress" not in entry.get("outputs", {}):
        return None, None
    vasp = _entry_array(entry, ["outputs", "virial_stress"], (6,), where)
    mask = np.ones(6, dtype=bool)
    if entry.get("group") == "Elastic":
        # The shear stresses of the Elastic cells contradict their own energies (mode 4-6: the stress at
        # strain 0.01 is 0.4 kbar with the opposite sign of the one at 0.005, while the energies rise as
        # strain^2 with C44 = 10-11 GPa), so only their normal components are trusted.
        mask[3:] = False
    return -vasp[VASP_TO_ASE_VOIGT] * KBAR_TO_EV_PER_A3, mask


def load_dataset(path: str | os.PathLike) -> list[Structure]:
    """All entries of a JSON data set (list of {structure, outputs, group, description})."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    try:
        entries = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: expected a non-empty JSON list of entries")
    return [_parse_entry(entry, k, path) for k, entry in enumerate(entries)]
