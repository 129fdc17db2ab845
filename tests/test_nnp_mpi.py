"""NNP inference on 2 ranks equals 1 rank (parallel over atoms and over structures)."""

import numpy as np
import pytest

pytest.importorskip("torch")

from test_nnp_core import random_model  # noqa: E402

from bda_hpc.atomistic.inference import NNPEvaluator, evaluate_structures  # noqa: E402
from bda_hpc.atomistic.structures import Structure  # noqa: E402


def rattled_bcc(n, seed):
    from ase.build import bulk

    atoms = bulk("Li", "bcc", a=3.45, cubic=True).repeat((n, n, n))
    atoms.rattle(0.1, seed=seed)
    return atoms


@pytest.mark.mpi
def test_parallel_over_atoms_matches_serial(comm):
    from mpi4py import MPI

    _, model = random_model(3)
    atoms = rattled_bcc(4, 1)
    args = (atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array)
    par = NNPEvaluator(model, comm).compute(*args)
    ser = NNPEvaluator(model, MPI.COMM_SELF).compute(*args)
    assert abs(par.energy - ser.energy) <= 1e-10 * abs(ser.energy)
    assert np.allclose(par.forces, ser.forces, rtol=0, atol=1e-10)
    assert np.allclose(par.virial, ser.virial, rtol=1e-10, atol=1e-10)
    assert np.allclose(par.energies, ser.energies, rtol=0, atol=1e-12)


@pytest.mark.mpi
def test_parallel_over_structures_matches_serial(comm):
    from mpi4py import MPI

    _, model = random_model(4)
    structures = [Structure.from_atoms(rattled_bcc(2, seed), name=f"s{seed}") for seed in range(5)]
    par = evaluate_structures(model, structures, comm)
    ser = evaluate_structures(model, structures, MPI.COMM_SELF)
    assert len(par) == len(ser) == 5
    for a, b in zip(par, ser):
        assert a.energy == pytest.approx(b.energy, rel=1e-12)
        assert np.allclose(a.forces, b.forces, atol=1e-12)
