"""Energies, per-atom energies, forces and stress of structures computed by LAMMPS (run 0).

All structures go through one LAMMPS process (one `clear` + `run 0` block each), so a test
set costs one launch. The cross-check of the plugin against the Python/ASE path and the
test-set errors of any LAMMPS potential (the SNAP peer in the benchmark) use this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .environment import LammpsEnv
from .inputs import NKTV2P_METAL, boundary, write_data
from .runner import read_dump, run_lammps


@dataclass
class LammpsResult:
    """Results of one structure (also used for the ASE path's, see :func:`ase_reference`)."""

    energy: float  # eV
    energies: np.ndarray  # (N,) eV
    forces: np.ndarray  # (N, 3) eV/Å, caller's frame
    stress: np.ndarray  # (6,) ASE Voigt xx yy zz yz xz xy, eV/Å^3, caller's frame
    virials: np.ndarray | None = None  # (N, 6) per-atom virial xx yy zz xy xz yz, eV, caller's frame


BLOCK = """clear
units metal
atom_style atomic
atom_modify map array sort 0 0.0
boundary {boundary}
read_data {data}
{potential}neighbor 1.0 bin
compute peatom all pe/atom
compute virial all pressure NULL virial
compute satom all stress/atom NULL virial
thermo_style custom step pe c_virial[1] c_virial[2] c_virial[3] c_virial[4] c_virial[5] c_virial[6]
thermo_modify format float %.17g
dump forces all custom 1 {dump} id type fx fy fz c_peatom c_satom[*]
dump_modify forces format float %.17g sort id
run 0
undump forces
"""


def lammps_single_points(
    env: LammpsEnv, structures: list, elements: list[str], potential: str, workdir: str | Path, nprocs: int = 1
) -> list[LammpsResult]:
    """``structures``: ASE atoms; ``potential``: pair lines (inputs.nnp_potential / inputs.snap_potential)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    frames, blocks = [], []
    for k, atoms in enumerate(structures):
        frames.append(write_data(workdir / f"s{k}.data", atoms, elements))
        blocks.append(
            BLOCK.format(boundary=boundary(atoms.pbc), data=f"s{k}.data", potential=potential, dump=f"s{k}.dump")
        )
    parser = run_lammps(env, "".join(blocks), workdir, nprocs, table=False)
    return [
        _result(frame, thermo, workdir / f"s{k}.dump")
        for k, (frame, thermo) in enumerate(zip(frames, parser.blocks, strict=True))
    ]


def _result(frame, thermo: dict, dump: Path) -> LammpsResult:
    _box, cols = read_dump(dump)
    forces = frame.forces_to_caller(np.column_stack([cols["fx"], cols["fy"], cols["fz"]]))
    # c_virial = W / V in bar (LAMMPS scales by nktv2p); ASE stress = -W / V in eV/Å^3
    pxx, pyy, pzz, pxy, pxz, pyz = (thermo[f"c_virial[{k}]"][-1] / NKTV2P_METAL for k in range(1, 7))
    tensor = frame.tensor_to_caller(-_tensor([pxx, pyy, pzz, pxy, pxz, pyz]))
    stress = np.array([tensor[0, 0], tensor[1, 1], tensor[2, 2], tensor[1, 2], tensor[0, 2], tensor[0, 1]])
    # c_satom = -(per-atom virial) in bar Å^3, order xx yy zz xy xz yz
    virials = np.column_stack([cols[f"c_satom[{k}]"] for k in range(1, 7)]) / -NKTV2P_METAL
    virials = np.array([_voigt(frame.tensor_to_caller(_tensor(w))) for w in virials]).reshape(-1, 6)
    return LammpsResult(float(thermo["PotEng"][-1]), cols["c_peatom"], forces, stress, virials)


def _tensor(w) -> np.ndarray:
    """3x3 tensor of LAMMPS's 6 components xx yy zz xy xz yz."""
    return np.array([[w[0], w[3], w[4]], [w[3], w[1], w[5]], [w[4], w[5], w[2]]])


def _voigt(t: np.ndarray) -> np.ndarray:
    return np.array([t[0, 0], t[1, 1], t[2, 2], t[0, 1], t[0, 2], t[1, 2]])


def max_relative_differences(
    results: list[LammpsResult], reference: list, force_floor: float = 1e-2, stress_floor: float = 1e-5
) -> dict[str, float]:
    """Worst relative difference of energy, per-atom energies, forces and stress over structures.

    ``reference``: objects with energy, energies, forces, stress (NNPResult / ASE results). Forces
    are relative to the structure's largest reference force, stress to its largest component,
    floored (eV/Å, eV/Å^3) because symmetric structures have forces that vanish up to round-off.
    """
    worst = dict(energy=0.0, energies=0.0, forces=0.0, stress=0.0)
    for got, ref in zip(results, reference, strict=True):
        e_scale = max(abs(ref.energy), 1e-12)
        worst["energy"] = max(worst["energy"], abs(got.energy - ref.energy) / e_scale)
        per_atom_scale = e_scale / len(got.energies)  # per-atom energies: relative to the mean one
        worst["energies"] = max(worst["energies"], np.abs(got.energies - ref.energies).max() / per_atom_scale)
        worst["forces"] = max(
            worst["forces"], np.abs(got.forces - ref.forces).max() / max(np.abs(ref.forces).max(), force_floor)
        )
        worst["stress"] = max(
            worst["stress"], np.abs(got.stress - ref.stress).max() / max(np.abs(ref.stress).max(), stress_floor)
        )
    return worst


def ase_reference(structures: list, model_h5: str | Path) -> list[LammpsResult]:
    """The same quantities from the Python/ASE path (NNPCalculator) of the model, for comparison."""
    from ..calculator import NNPCalculator

    calc = NNPCalculator(str(model_h5))
    out = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = calc
        out.append(
            LammpsResult(
                atoms.get_potential_energy(), atoms.get_potential_energies(), atoms.get_forces(), atoms.get_stress()
            )
        )
    return out
