"""`bda-hpc mlff evaluate/export` end to end with the shipped model, and their bad-input exits."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from conftest import shared_data  # noqa: E402

from bda_hpc.atomistic.model_file import default_model_path, load_model  # noqa: E402

KEYS = ("energy_mae_mev_per_atom", "energy_rmse_mev_per_atom", "force_mae_ev_per_a", "force_rmse_ev_per_a")


def bda(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "bda_hpc.cli", *args], capture_output=True, text=True, timeout=300, **kw
    )


@pytest.fixture(scope="module")
def model_path():
    path = default_model_path()
    if not path.is_file():
        pytest.skip("shipped model not present")
    return path


def test_evaluate_writes_metrics_matching_the_provenance(tmp_path, model_path):
    """The test-set errors computed now equal those recorded when the model was trained."""
    out = tmp_path / "m.json"
    r = bda(
        "mlff",
        "evaluate",
        "--model",
        str(model_path),
        "--data",
        str(shared_data("li_dft_mlearn", "test.json")),
        "--json",
        str(out),
        "--plot",
        str(tmp_path / "parity.png"),
    )
    assert r.returncode == 0, r.stderr
    metrics = json.loads(out.read_text())
    assert set(KEYS) <= set(metrics) and set(metrics["per_group"]) == {"AIMD-NVT", "Elastic", "Surface", "Vacancy"}
    recorded = load_model(model_path).provenance["metrics"]
    recorded = json.loads(recorded) if isinstance(recorded, str) else recorded
    for key in KEYS:
        assert metrics[key] == pytest.approx(recorded["test"][key], rel=1e-9)
    assert (tmp_path / "parity.png").stat().st_size > 1000


def test_export_text_gives_the_same_energies(tmp_path, model_path):
    from bda_hpc._ext.nnp import NNPCore
    from bda_hpc.atomistic.inference import NNPEvaluator
    from bda_hpc.atomistic.neighbors import build_csr

    out = tmp_path / "li.nnp"
    assert bda("mlff", "export", "--model", str(model_path), "--out", str(out)).returncode == 0
    core = NNPCore(out.read_text())
    model = load_model(model_path)
    from ase.build import bulk

    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=3)
    csr = build_csr(atoms.positions, atoms.cell.array, (True,) * 3, core.cutoff)
    e, f, w = np.zeros(len(atoms)), np.zeros((len(atoms), 3)), np.zeros(6)
    core.compute(len(atoms), np.zeros(len(atoms), np.int32), csr.offsets, csr.neigh, csr.vec, e, f, w)
    ref = NNPEvaluator(model).compute(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array)
    assert e.sum() == pytest.approx(ref.energy, rel=1e-14) and np.allclose(f, ref.forces, atol=1e-13)


def test_bad_inputs_exit_nonzero_with_one_message(tmp_path, model_path):
    import h5py

    entries = json.loads(shared_data("li_dft_mlearn", "test.json").read_text())[:2]
    del entries[1]["outputs"]["energy"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(entries))
    out = tmp_path / "keep.json"
    out.write_text("earlier result")
    r = bda("mlff", "evaluate", "--model", str(model_path), "--data", str(bad), "--json", str(out))
    assert r.returncode != 0 and "entry 1" in r.stderr and "outputs.energy" in r.stderr
    assert out.read_text() == "earlier result"  # nothing already written is damaged
    other = tmp_path / "v2.h5"
    other.write_bytes(model_path.read_bytes())
    with h5py.File(other, "a") as h5:
        h5.attrs["format_version"] = 99
    r = bda("mlff", "evaluate", "--model", str(other), "--data", str(shared_data("li_dft_mlearn", "test.json")))
    assert r.returncode != 0 and "version 99" in r.stderr


def test_shipped_model_was_trained_with_the_shipped_config(model_path):
    """`bda-hpc mlff train --config examples/mlff_li.toml` is what produced the shipped model."""
    from pathlib import Path

    provenance = load_model(model_path).provenance
    example = Path(__file__).resolve().parents[1] / "examples" / "mlff_li.toml"
    assert provenance["config"] == example.read_text()
    assert provenance["seed"] == 2026
