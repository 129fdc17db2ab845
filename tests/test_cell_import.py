"""`bda-hpc cell import-pybamm`: a PyBaMM set other than Chen2020 converts, runs and matches PyBaMM."""
import json
import subprocess
import sys

import pytest

pybamm = pytest.importorskip("pybamm")

from bda_hpc.cell.pybamm_peer import compare, run_pybamm  # noqa: E402
from bda_hpc.cell.simulate import simulate  # noqa: E402


def test_imported_okane2022_matches_pybamm(tmp_path):
    out = tmp_path / "okane2022.json"
    proc = subprocess.run([sys.executable, "-m", "bda_hpc.cli", "cell", "import-pybamm", "OKane2022",
                           "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    values = json.loads(out.read_text())
    assert "table" in values["negative"]["ocp"]  # OKane2022's graphite OCP is data, not Chen's formula
    for c_rate in (2.0,):
        res = simulate(parameter_set=out, experiment=[{"mode": "current", "c_rate": c_rate}], output_dt=10.0)
        cmp = compare(res["time"], res["voltage"], res["discharge_capacity"],
                      run_pybamm(c_rate, parameter_set="OKane2022"))
        assert cmp["rms_mv"] <= 1.0 and cmp["capacity_rel_diff"] <= 2e-3


def test_unsupported_set_is_named():
    from bda_hpc.cell.pybamm_import import convert
    from bda_hpc.errors import InputError

    with pytest.raises(InputError, match="Ecker2015: 'Negative particle diffusivity .* depends on concentration"):
        convert("Ecker2015")
    with pytest.raises(InputError, match="no parameter set 'NoSuchSet'"):
        convert("NoSuchSet")
