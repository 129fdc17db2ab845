"""MD in LAMMPS with the bda/nnp plugin: NVE energy conservation, exact resume from restart files,
and the `bda-hpc md` command's handling of bad input."""
import shutil
import subprocess
import sys

import numpy as np
import pytest
from test_lammps_plugin import lammps_env  # noqa: F401  (module fixture: builds the plugin once)

from bda_hpc.errors import InputError


def _model(trained: bool):
    from bda_hpc.atomistic.lammps.models import random_model
    from bda_hpc.atomistic.model_file import default_model_path, load_model

    if default_model_path().exists():
        return load_model(default_model_path())
    if trained:
        pytest.skip(f"needs a trained model ({default_model_path()} is not shipped yet): random weights have no "
                    "stable bcc crystal to run MD in")
    return random_model(seed=7)


@pytest.fixture(scope="module")
def model_text(tmp_path_factory):
    """The shipped model, else random weights (fine where only the code path matters)."""
    path = tmp_path_factory.mktemp("model") / "model.nnp"
    path.write_text(_model(trained=False).to_text())
    return path


def _stage(env, model_text, out, **run):
    from bda_hpc.atomistic.lammps.inputs import nnp_potential
    from bda_hpc.atomistic.lammps.settings import MDSettings, RunSettings
    from bda_hpc.atomistic.lammps.workflows import MDStage

    settings = MDSettings(nprocs=1, run=RunSettings(**run))
    return MDStage(settings, env, nnp_potential(env.plugin, model_text, ["Li"]), out, model_text)


def test_nve_energy_drift_below_1e5_ev_per_atom_ps(lammps_env, tmp_path):  # noqa: F811
    from bda_hpc.atomistic.lammps.runner import read_log

    model_text = tmp_path / "model.nnp"
    model_text.write_text(_model(trained=True).to_text())
    stage = _stage(lammps_env, model_text, tmp_path, ensemble="nve", temperature=300.0, repeat=[3, 3, 3],
                   steps=1000, thermo_every=10, dump_every=1000, restart_every=1000)
    summary = stage.run()
    table = read_log(tmp_path / "run" / "log.lammps")
    natoms = summary["atoms"]
    slope = np.polyfit(table["Time"], table["TotEng"], 1)[0] / natoms   # eV/atom/ps, dt = 1 fs, 1 ps
    spread = np.ptp(table["TotEng"]) / natoms
    assert 150 < summary["mean_temperature_K"] < 450          # a 300 K run, not a frozen one
    assert np.ptp(table["PotEng"]) / natoms > 100 * spread     # energy flows between KE and PE ...
    assert abs(slope) < 1e-5, (slope, spread)                  # ... but the total does not drift
    assert (tmp_path / "run" / "thermo.png").stat().st_size > 0 and (tmp_path / "run" / "traj.lammpstrj").exists()


def test_resumed_run_matches_uninterrupted_run(lammps_env, model_text, tmp_path):  # noqa: F811
    from bda_hpc.atomistic.lammps.runner import read_log

    common = dict(ensemble="nve", temperature=300.0, repeat=[2, 2, 2], thermo_every=10, dump_every=80,
                  restart_every=20)
    _stage(lammps_env, model_text, tmp_path / "straight", steps=80, **common).run()
    interrupted = _stage(lammps_env, model_text, tmp_path / "resumed", steps=40, **common)
    interrupted.run()
    (tmp_path / "resumed" / "run" / "done.json").unlink()     # as if killed after the restart at step 40
    resumed = _stage(lammps_env, model_text, tmp_path / "resumed", steps=80, **common)
    resumed.run()
    assert "read_restart" in (tmp_path / "resumed" / "run" / "in.lmp").read_text()
    a, b = (read_log(tmp_path / d / "run" / "log.lammps") for d in ("straight", "resumed"))
    assert b["Step"].tolist() == a["Step"].tolist() == list(range(0, 81, 10))
    np.testing.assert_allclose(b["TotEng"], a["TotEng"], rtol=1e-9)
    np.testing.assert_allclose(b["Temp"], a["Temp"], rtol=1e-6)


def test_md_command_reports_bad_input(lammps_env, model_text, tmp_path):  # noqa: F811
    exe = shutil.which("bda-hpc", path=str(sys.executable.rsplit("/", 1)[0]))
    cfg = tmp_path / "md.toml"
    cfg.write_text(f"[md]\nmodel = '{model_text}'\nplugin = 'nowhere/bda_nnp.so'\n")
    out = subprocess.run([exe, "md", "--config", str(cfg), "--out-dir", str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "nowhere/bda_nnp.so does not exist" in out.stderr + out.stdout
    cfg.write_text(f"[md]\nmodel = 'missing.h5'\nplugin = '{lammps_env.plugin}'\n")
    out = subprocess.run([exe, "md", "--config", str(cfg), "--out-dir", str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "missing.h5 does not exist" in out.stderr + out.stdout


def test_unknown_element_in_data_is_refused(tmp_path):
    from ase import Atoms

    from bda_hpc.atomistic.lammps.inputs import write_data

    with pytest.raises(InputError, match="Na not among the model's Li"):
        write_data(tmp_path / "x.data", Atoms("LiNa", positions=[[0, 0, 0], [2, 2, 2]], cell=[5, 5, 5], pbc=True),
                   ["Li"])


def test_surface_task_follows_the_adatom(lammps_env, tmp_path):  # noqa: F811
    """A short adatom run on (100): the followed atom is the adatom (well above the top layer), and
    the task turns its trajectory into D with an error and no NEB (a .nnp model)."""
    from bda_hpc.atomistic.lammps.inputs import nnp_potential
    from bda_hpc.atomistic.lammps.runner import read_log
    from bda_hpc.atomistic.lammps.settings import MDSettings, SurfaceSettings
    from bda_hpc.atomistic.lammps.workflows import MDStage

    model_text = tmp_path / "model.nnp"
    model_text.write_text(_model(trained=True).to_text())
    settings = MDSettings(nprocs=1, timestep=0.002, surface=SurfaceSettings(
        temperatures_100=[300.0], temperatures_110=[], size=[3, 3], layers=4, equilibration_steps=100, steps=1000,
        sample_every=5))
    result = MDStage(settings, lammps_env, nnp_potential(lammps_env.plugin, model_text, ["Li"]), tmp_path,
                     model_text).surface()
    md = result["100"]["md"]
    assert md["temperatures_K"] == [300.0] and np.isfinite(md["D_A2_per_ps"][0]) and md["D_stderr_A2_per_ps"][0] > 0
    assert "neb" not in result["100"] and "110" in result and (tmp_path / "surface.png").is_file()
    table = read_log(tmp_path / "surface" / "100" / "T300" / "log.lammps")
    top_layer = 1.5 * settings.lattice_constant  # 4 layers, a/2 apart, from z = 0
    assert np.nanmin(table["c_top[3]"]) > top_layer + 0.8
