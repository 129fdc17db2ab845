"""Energy, per-atom energies, forces and stress of structures computed by LAMMPS (run 0).

The cross-check of the plugin against the Python/ASE path, and the test-set evaluation of
any LAMMPS potential (the SNAP peer in the benchmark) use this.
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
    energy: float           # eV
    energies: np.ndarray    # (N,) eV
    forces: np.ndarray      # (N, 3) eV/Å, caller's frame
    stress: np.ndarray      # (6,) ASE Voigt xx yy zz yz xz xy, eV/Å^3, caller's frame


SCRIPT = """units metal
atom_style atomic
atom_modify map array sort 0 0.0
boundary {boundary}
read_data structure.data
{potential}neighbor 1.0 bin
compute peatom all pe/atom
compute virial all pressure NULL virial
thermo_style custom step pe c_virial[1] c_virial[2] c_virial[3] c_virial[4] c_virial[5] c_virial[6] vol
thermo_modify format float %.17g
dump forces all custom 1 forces.dump id type fx fy fz c_peatom
dump_modify forces format float %.17g sort id
run 0
"""


def lammps_single_point(env: LammpsEnv, atoms, elements: list[str], potential: str, workdir: str | Path,
                        nprocs: int = 1) -> LammpsResult:
    """``potential``: the pair_style/pair_coeff lines (inputs.nnp_potential or inputs.snap_potential)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    frame = write_data(workdir / "structure.data", atoms, elements)
    thermo = run_lammps(env, SCRIPT.format(boundary=boundary(atoms.pbc), potential=potential), workdir, nprocs)
    _box, cols = read_dump(workdir / "forces.dump")
    forces = frame.forces_to_caller(np.column_stack([cols["fx"], cols["fy"], cols["fz"]]))
    # c_virial = W / V in bar (LAMMPS scales by nktv2p); ASE stress = -W / V in eV/Å^3
    p = np.array([thermo[f"c_virial[{k}]"][-1] for k in range(1, 7)]) / NKTV2P_METAL
    pxx, pyy, pzz, pxy, pxz, pyz = p
    tensor = frame.tensor_to_caller(-np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]]))
    stress = np.array([tensor[0, 0], tensor[1, 1], tensor[2, 2], tensor[1, 2], tensor[0, 2], tensor[0, 1]])
    return LammpsResult(float(thermo["PotEng"][-1]), cols["c_peatom"], forces, stress)
