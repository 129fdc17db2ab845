import json

import numpy as np
import pytest

from bda_hpc.errors import ParameterFileError
from bda_hpc.io.params import SCHEMA, Parameter, file_sha256, read_params, read_results, write_params


@pytest.fixture
def li_file(tmp_path):
    upstream = tmp_path / "upstream.txt"
    upstream.write_text("input data")
    path = write_params(
        tmp_path / "li_metal.h5", "atomistic",
        {
            "surface_energy_110": Parameter(0.49, "J/m^2", "relaxed (110) surface energy", "slab, NNP", 0.01),
            "lattice_constant": Parameter(3.43e-10, "m", "bcc lattice constant", "EOS fit"),
            "elastic": Parameter(np.array([15.0, 12.0, 9.0]) * 1e9, "Pa", "C11 C12 C44"),
        },
        results={"eos": {"volume": (np.linspace(18, 22, 5), "angstrom^3"), "energy": np.arange(5.0)}},
        config="[mlff]\nseed = 1\n", inputs=[upstream],
    )
    return path, upstream


def test_round_trip_with_unit_conversion(li_file):
    path, upstream = li_file
    p = read_params(path)
    assert p.require("surface_energy_110", units="J/m^2") == pytest.approx(0.49)
    assert p.require("surface_energy_110", units="mJ/m^2") == pytest.approx(490.0)
    assert p.require("lattice_constant", units="angstrom") == pytest.approx(3.43)
    np.testing.assert_allclose(p.require("elastic", units="GPa"), [15, 12, 9])
    assert p.parameters["surface_energy_110"].uncertainty == pytest.approx(0.01)
    assert p.meta["schema"] == SCHEMA and p.meta["stage"] == "atomistic"
    assert p.meta["inputs"] == [{"path": str(upstream.resolve()), "sha256": file_sha256(upstream)}]
    assert "seed = 1" in p.meta["config"]
    np.testing.assert_allclose(read_results(path, "eos/volume"), np.linspace(18, 22, 5))


def test_missing_file(tmp_path):
    with pytest.raises(ParameterFileError, match="does not exist"):
        read_params(tmp_path / "absent.h5")


def test_missing_parameter_names_file_and_alternatives(li_file):
    path, _ = li_file
    with pytest.raises(ParameterFileError) as err:
        read_params(path).require("surface_energy_111", units="J/m^2")
    msg = str(err.value)
    assert str(path) in msg and "surface_energy_111" in msg and "surface_energy_110" in msg


def test_wrong_units(li_file):
    path, _ = li_file
    with pytest.raises(ParameterFileError, match="'J/m\\^2'.*cannot be converted to 'm'"):
        read_params(path).require("surface_energy_110", units="m")


def test_truncated_file(li_file, tmp_path):
    path, _ = li_file
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ParameterFileError, match="truncated or damaged"):
        read_params(cut)


def test_newer_schema(li_file):
    import h5py

    path, _ = li_file
    with h5py.File(path, "a") as f:
        f["meta"].attrs["schema"] = "bda_hpc.params/2"
    with pytest.raises(ParameterFileError, match="newer than this bda_hpc"):
        read_params(path)


def test_not_a_parameter_file(tmp_path):
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ParameterFileError, match="not a bda_hpc parameter file"):
        read_params(tmp_path / "other.h5")


def test_failed_write_keeps_earlier_file(li_file):
    path, _ = li_file
    before = path.read_bytes()
    with pytest.raises(ParameterFileError, match="not finite"):
        write_params(path, "atomistic", {"x": Parameter(float("nan"), "m")})
    with pytest.raises(ParameterFileError, match="cannot parse units"):
        write_params(path, "atomistic", {"x": Parameter(1.0, "furlongs per blorp")})
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_meta_inputs_are_json(li_file):
    import h5py

    path, _ = li_file
    with h5py.File(path) as f:
        assert isinstance(json.loads(f["meta"].attrs["inputs"]), list)
        assert f["parameters/lattice_constant"].attrs["units"] == "m"
