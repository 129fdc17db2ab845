"""Li force field: data sets, model file, training (determinism, resume, force path), CLI, bad input."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import shared_data  # noqa: E402
from test_nnp_core import random_model, small_cell  # noqa: E402

from bda_hpc.atomistic.inference import NNPEvaluator  # noqa: E402
from bda_hpc.atomistic.model_file import load_model  # noqa: E402
from bda_hpc.atomistic.settings import DescriptorSettings, TrainingSettings  # noqa: E402
from bda_hpc.atomistic.structures import load_dataset  # noqa: E402
from bda_hpc.errors import InputError  # noqa: E402


def li_data(name):
    return shared_data("li_dft_mlearn", name)


def test_dataset_loads_with_groups_and_units():
    s = load_dataset(li_data("test.json"))
    assert len(s) == 29
    assert {x.group for x in s} == {"AIMD-NVT", "Vacancy", "Elastic", "Surface"}
    assert all(x.forces.shape == (len(x), 3) for x in s)
    assert -2.0 < s[0].energy / len(s[0]) < -1.7  # eV/atom, PBE Li


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda e: e["outputs"].pop("forces"), "entry 1 .*missing field 'outputs.forces'"),
        (lambda e: e["outputs"].update(energy="abc"), "entry 1 .*'outputs.energy' is not numeric"),
        (lambda e: e["outputs"].update(forces=[[0, 0]]), "entry 1 .*'outputs.forces' has shape"),
        (lambda e: e["structure"]["lattice"].update(matrix=[[1, 0, 0]]), "entry 1 .*lattice.matrix"),
    ],
)
def test_malformed_data_names_entry_and_field(tmp_path, damage, message):
    entries = json.loads(li_data("test.json").read_text())[:3]
    damage(entries[1])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(InputError, match=message):
        load_dataset(path)


def test_model_file_round_trip_and_version_check(tmp_path):
    import h5py

    _, model = random_model(2)
    path = tmp_path / "m.h5"
    model.save(path)
    back = load_model(path)
    assert back.to_text() == model.to_text()
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = 2
    with pytest.raises(InputError, match="version 2"):
        load_model(path)
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "missing.h5")


def test_evaluator_refuses_bad_geometry_and_elements():
    _, model = random_model()
    ev = NNPEvaluator(model)
    pos, cell = small_cell()
    with pytest.raises(InputError, match="unknown element 'Na' at atom 1"):
        ev.compute(["Li", "Na"], pos, cell)
    with pytest.raises(InputError, match="0.500 Å apart"):
        ev.compute(["Li", "Li"], np.array([[0, 0, 0], [0.5, 0, 0.0]]), cell)
    flat = cell.copy()
    flat[2] = flat[0] + flat[1]
    with pytest.raises(InputError, match="zero volume"):
        ev.compute(["Li", "Li"], pos, flat)


def small_training(structures, epochs, seed=5, **kw):
    from bda_hpc.atomistic.training import Trainer

    dset = DescriptorSettings(
        g2_centered_eta=[0.01, 0.1], g2_shifted_rs=[3.0], g4_eta=[0.01], g4_zeta=[1.0, 2.0]
    ).build()
    ts = TrainingSettings(hidden=[6], seed=seed, epochs=epochs, batch_structures=4, **kw)
    return dset, ts, Trainer


def test_training_force_and_stress_paths_match_c_core():
    """Training's forces and stresses (torch MLP x C descriptor derivatives) equal the C core's of the same model."""
    from bda_hpc.atomistic.properties import EV_PER_A3_TO_GPA
    from bda_hpc.atomistic.training import Batches, predict

    structures = load_dataset(li_data("test.json"))[::6]
    dset, ts, Trainer = small_training(structures, 1)
    trainer = Trainer(structures, dset, ts)
    allb = Batches(trainer.data, np.arange(len(structures)), trainer.shift, trainer.scale)
    energy, forces, stress = predict(trainer.model, allb, create_graph=False)
    ev = NNPEvaluator(trainer.model.to_model(dset))
    ref = [ev.compute_structure(s) for s in structures]
    assert np.allclose(energy.detach().numpy(), [r.energy for r in ref], rtol=1e-12)
    assert np.allclose(forces.detach().numpy(), np.concatenate([r.forces for r in ref]), atol=1e-10)
    ref_stress = np.array([r.stress for r in ref]) * EV_PER_A3_TO_GPA
    assert np.abs(ref_stress).max() > 0.05  # GPa: a check that means something
    assert np.allclose(stress.detach().numpy(), ref_stress, atol=1e-10)


def test_data_stress_convention_matches_dft_energy_differences():
    """Converted virial_stress (tension positive) = (1/V) dE/dstrain from the uniaxial Elastic cells' energies."""
    import re

    elastic = [s for s in load_dataset(li_data("training.json")) if s.group == "Elastic"]
    mode1 = {}
    for s in elastic:
        m = re.search(r"mode 1, strain (-?[\d.]+)", s.name)
        if m:
            mode1[float(m.group(1))] = s
    lo, hi = mode1[-0.01], mode1[-0.005]
    volume = abs(np.linalg.det(lo.cell + hi.cell) / 8)  # cell at strain -0.0075
    fd = (hi.energy - lo.energy) / 0.005 / volume  # eV/Å^3, xx
    assert fd == pytest.approx(0.5 * (lo.stress[0] + hi.stress[0]), rel=0.05)
    assert fd < 0  # compressed cells push outwards: negative (tensile-positive) stress
    assert not elastic[0].stress_mask[3:].any() and elastic[0].stress_mask[:3].all()


def test_training_is_deterministic_and_resumes_bit_for_bit(tmp_path):
    structures = load_dataset(li_data("test.json"))[::3]
    dset, ts, Trainer = small_training(structures, 4, checkpoint_every=2)
    a = Trainer(structures, dset, ts).run()
    b = Trainer(structures, dset, ts).run()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    # interrupted after 2 epochs, resumed to 4: identical to the straight run
    ckpt = tmp_path / "ckpt.pt"
    half = Trainer(structures, dset, TrainingSettings(**{**ts.__dict__, "epochs": 2}), ckpt)
    half.run()
    resumed = Trainer(structures, dset, ts, ckpt)
    assert resumed.resume() and resumed.epoch == 2
    c = resumed.run()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))
    other = Trainer(structures, dset, TrainingSettings(**{**ts.__dict__, "seed": 6})).run()
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), other.state_dict().values()))
