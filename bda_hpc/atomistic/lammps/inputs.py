"""LAMMPS inputs: data files from ASE atoms (with the frame rotation back), potential lines.

LAMMPS wants a cell with a along x and b in the xy plane; ASE's Prism rotates the structure
into that frame, and :class:`Frame` rotates forces and stress back, so results are compared
in the caller's frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InputError

NKTV2P_METAL = 1.6021765e6  # LAMMPS's own bar per eV/Å^3 (force.cpp, metal units): undoes its pressure scaling


@dataclass
class Frame:
    prism: object  # ase.calculators.lammps.Prism

    def forces_to_caller(self, forces: np.ndarray) -> np.ndarray:
        return self.prism.vector_to_ase(forces)

    def tensor_to_caller(self, tensor: np.ndarray) -> np.ndarray:
        return self.prism.tensor2_to_ase(tensor)


def write_data(path: str | Path, atoms, elements: list[str], velocities: bool = False) -> Frame:
    """Atom-style `atomic` data file, types numbered in the order of ``elements`` (metal units)."""
    from ase.calculators.lammps import Prism
    from ase.io.lammpsdata import write_lammps_data

    unknown = sorted(set(atoms.get_chemical_symbols()) - set(elements))
    if unknown:
        raise InputError(f"{path}: element(s) {', '.join(unknown)} not among the model's {', '.join(elements)}")
    prism = Prism(atoms.get_cell(), atoms.pbc)
    with open(path, "w") as fd:
        write_lammps_data(fd, atoms, specorder=list(elements), prismobj=prism, masses=True,
                          velocities=velocities, units="metal", atom_style="atomic")
    return Frame(prism)


def boundary(pbc) -> str:
    return " ".join("p" if p else "f" for p in pbc)


def nnp_potential(plugin: str | Path, model_text: str | Path, elements: list[str]) -> str:
    """Input lines that load the plugin and use the model (text export) for types 1..n = elements."""
    return (f"plugin load {plugin}\n"
            "pair_style bda/nnp\n"
            f"pair_coeff * * {model_text} {' '.join(elements)}\n")


def snap_potential(lammps_potentials: str | Path, name: str = "Li_Zuo_JPCA2020") -> str:
    """The SNAP Li potential of Zuo et al. (J. Phys. Chem. A 2020) shipped with LAMMPS: the peer in benchmarks."""
    d = Path(lammps_potentials)
    return f"pair_style snap\npair_coeff * * {d / (name + '.snapcoeff')} {d / (name + '.snapparam')} Li\n"


def model_text(model: str | Path, out_dir: str | Path) -> Path:
    """The model as the text export the plugin reads: a .nnp file as is, an HDF5 model exported."""
    model = Path(model)
    if not model.is_file():
        raise InputError(f"NNP model file {model} does not exist")
    if model.suffix != ".h5":
        return model.resolve()
    from ..model_file import load_model

    out = Path(out_dir) / (model.stem + ".nnp")
    out.write_text(load_model(model).to_text())
    return out.resolve()
