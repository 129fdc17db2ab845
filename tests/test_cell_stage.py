"""`bda-hpc cell`: cell.h5 contract, microstructure input, bad input leaves earlier outputs intact."""
import hashlib
import subprocess
import sys

import numpy as np
import pytest

from bda_hpc.io.params import Parameter, read_params, read_results, write_params

CONFIG = """
[cell]
thermal = true
output_dt = 30.0
[cell.mesh]
x_n = 8
x_s = 4
x_p = 8
r_n = 8
r_p = 8
[cell.overrides]
{overrides}
[[cell.experiment]]
mode = "current"
c_rate = 1.0
"""


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "bda_hpc.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cell")
    cfg = tmp / "cell.toml"
    cfg.write_text(CONFIG.format(overrides=""))
    proc = run_cli("cell", "--config", cfg, "--out-dir", tmp / "out")
    assert proc.returncode == 0, proc.stderr
    return tmp, cfg


def test_cell_h5_has_the_contract(stage_run):
    tmp, _ = stage_run
    ps = read_params(tmp / "out" / "cell.h5")
    assert ps.meta["stage"] == "cell"
    assert 4.5 < ps.require("discharge_capacity", units="A*h") < 5.0
    assert ps.require("energy", units="W*h") > 10.0
    assert ps.require("max_temperature", units="K") > 300.0
    assert 0.0 < ps.require("anode_overpotential_min", units="mV") < 1000.0
    assert np.isfinite(ps.require("anode_current_density", units="A/m^2"))
    v = read_results(tmp / "out" / "cell.h5", "series/voltage")
    t = read_results(tmp / "out" / "cell.h5", "series/time")
    assert v[-1] == pytest.approx(2.5, abs=1e-6) and t.size == v.size > 50
    assert (tmp / "out" / "cell.png").stat().st_size > 10_000


def test_microstructure_bruggeman_is_used(stage_run, tmp_path):
    tmp, cfg = stage_run
    upstream = tmp_path / "electrode.h5"
    write_params(upstream, "microstructure", {"bruggeman_exponent": Parameter(2.0, "1", "test"),
                                              "porosity": Parameter(0.3, "1", "test")})
    proc = run_cli("cell", "--config", cfg, "--out-dir", tmp_path / "out", "--params", upstream)
    assert proc.returncode == 0, proc.stderr
    base = read_params(tmp / "out" / "cell.h5").require("discharge_capacity")
    tortuous = read_params(tmp_path / "out" / "cell.h5")
    assert tortuous.require("discharge_capacity") < base - 0.01  # b = 2.0: 4.929 vs 4.949 A h (measured)
    assert str(upstream.resolve()) in str(tortuous.meta["inputs"])


def test_bad_input_fails_cleanly_and_keeps_old_output(stage_run, tmp_path):
    tmp, _ = stage_run
    out = tmp / "out" / "cell.h5"
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.format(overrides='"negative.thickness" = -8e-5'))
    proc = run_cli("cell", "--config", bad, "--out-dir", tmp / "out")
    assert proc.returncode != 0
    assert "negative.thickness: must be positive" in proc.stderr + proc.stdout
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    bad.write_text(CONFIG.format(overrides="").replace("c_rate = 1.0", "c_rate = 1.0\ncurrent = 3.0"))
    proc = run_cli("cell", "--config", bad, "--out-dir", tmp / "out")
    assert proc.returncode != 0 and "exactly one of c_rate or current" in proc.stderr + proc.stdout
