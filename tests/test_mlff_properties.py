"""Property workflows with the shipped model, each checked against an independent route."""

import numpy as np
import pytest

pytest.importorskip("torch")

from bda_hpc.atomistic.diffusion import KB, arrhenius  # noqa: E402
from bda_hpc.atomistic.model_file import default_model_path  # noqa: E402


@pytest.fixture(scope="module")
def calc():
    if not default_model_path().is_file():
        pytest.skip("shipped model not present")
    from bda_hpc.atomistic.calculator import NNPCalculator

    return NNPCalculator()


def test_arrhenius_fit_recovers_known_parameters():
    T = np.array([250.0, 300.0, 350.0, 400.0])
    fit = arrhenius(T, 3e-3 * np.exp(-0.05 / (KB * T)))
    assert fit["activation_energy"] == pytest.approx(0.05, rel=1e-10)
    assert fit["prefactor"] == pytest.approx(3e-3, rel=1e-10)
    assert fit["activation_energy_unc"] < 1e-10


def test_bulk_modulus_from_eos_matches_elastic_constants(calc):
    """B from the E(V) fit (energies) and (C11 + 2 C12)/3 from stresses are independent routes."""
    from bda_hpc.atomistic.properties import bcc_lattice, elastic_constants

    lat = bcc_lattice(calc)
    el = elastic_constants(calc, lat["lattice_constant"])
    assert 3.3 < lat["lattice_constant"] < 3.6  # PBE Li: ~3.44 Å
    assert el["bulk_modulus_elastic"] == pytest.approx(lat["bulk_modulus"], rel=0.03)
    assert el["c11"] > el["c12"] > 0 and el["c44"] > 0  # mechanically stable bcc


def test_calculator_stress_is_the_strain_derivative_and_relaxation_lowers_energy(calc):
    from ase.build import bulk

    from bda_hpc.atomistic.properties import relax

    atoms = bulk("Li", "bcc", a=3.40, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=4)
    atoms.calc = calc
    stress, e0, v = atoms.get_stress(voigt=False), atoms.get_potential_energy(), atoms.get_volume()
    eps = 1e-5
    for a in range(3):
        d = np.eye(3)
        d[a, a] += eps
        b = atoms.copy()
        b.set_cell(atoms.cell.array @ d, scale_atoms=True)
        b.calc = calc
        assert (b.get_potential_energy() - e0) / (eps * v) == pytest.approx(stress[a, a], abs=2e-5)
    assert calc.get_property("energies", atoms).sum() == pytest.approx(e0, rel=1e-12)
    relax(atoms, calc, fmax=0.01, cell=True)
    assert atoms.get_potential_energy() < e0


def test_vacancy_hop_barrier_is_symmetric_and_positive(calc):
    from bda_hpc.atomistic.properties import bcc_lattice
    from bda_hpc.atomistic.properties_defects import vacancy_migration

    a0 = bcc_lattice(calc)["lattice_constant"]
    neb = vacancy_migration(calc, a0, 2, fmax=0.02, images=3)
    assert neb["hop_distance"] == pytest.approx(a0 * np.sqrt(3) / 2, rel=1e-6)
    assert neb["vacancy_migration_energy_unc"] < 1e-3  # equivalent end points
    assert 0.0 < neb["vacancy_migration_energy"] < 0.5
