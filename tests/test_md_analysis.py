"""MD analysis (diffusivity, Arrhenius, roughness), thermo parsing and [md] settings: checked on data
with known answers (random walks of known D, exact Arrhenius data, constructed surfaces)."""
import numpy as np
import pytest

from bda_hpc.atomistic.lammps import analysis
from bda_hpc.atomistic.lammps.runner import ThermoParser
from bda_hpc.errors import ConfigError, SolverError


@pytest.mark.parametrize("dims", [2, 3])
def test_diffusivity_of_random_walks(dims):
    rng = np.random.default_rng(1)
    D, dt, nsteps, nwalkers = 0.37, 0.01, 400, 4000
    steps = rng.normal(0, np.sqrt(2 * D * dt), (nsteps, nwalkers, dims))
    msd = (np.cumsum(steps, axis=0) ** 2).sum(axis=2).mean(axis=1)
    t = dt * np.arange(1, nsteps + 1)
    got, err = analysis.diffusivity(t, msd, dims)
    # the MSD average over 4000 walkers has ~2 % relative scatter
    assert got == pytest.approx(D, rel=0.06)
    assert 0 < err < 0.05 * D


def test_arrhenius_recovers_prefactor_and_barrier():
    T = np.array([300.0, 400.0, 500.0, 650.0])
    D = 3.1e-2 * np.exp(-0.55 / (analysis.KB_EV * T))
    fit = analysis.arrhenius(T, D)
    assert fit["prefactor"] == pytest.approx(3.1e-2, rel=1e-10)
    assert fit["activation_energy"] == pytest.approx(0.55, rel=1e-10)
    with pytest.raises(SolverError, match="positive diffusivities"):
        analysis.arrhenius(T, -D)


def _surface(heights, a=3.0):
    """One atom per column at the given heights, plus a full layer below (all attached)."""
    n = heights.shape[0]
    xy = (np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2) + 0.5) * a
    top = np.column_stack([xy, heights.reshape(-1)])
    below = np.column_stack([xy, np.full(n * n, heights.min() - 2.5)])
    return np.vstack([top, below]), n * a


def test_roughness_of_flat_and_stepped_surfaces():
    flat, L = _surface(np.full((4, 4), 10.0))
    assert analysis.roughness(flat, L, L, bins=4) == pytest.approx(0.0, abs=1e-12)
    h = np.full((4, 4), 10.0)
    h[:2] += 1.2                                  # half the surface one step higher: RMS = step / 2
    stepped, L = _surface(h)                      # (the step atoms stay bonded: sqrt(3^2 + 1.2^2) < 3.3 Å)
    assert analysis.roughness(stepped, L, L, bins=4) == pytest.approx(0.6, rel=1e-12)
    flying = np.vstack([stepped, [[1.0, 1.0, 40.0], [1.0, 1.0, 43.0]]])   # a pair still in flight does not count
    assert analysis.roughness(flying, L, L, bins=4) == pytest.approx(0.6, rel=1e-12)


def test_thermo_parser_replaces_rows_of_a_resumed_run():
    log = """LAMMPS
   Step          Temp          PotEng
         0   300   -1.0
        10   290   -1.1
        20   280   -1.2
Loop time of 1 on 1 procs for 20 steps with 2 atoms
   Step          Temp          PotEng
        10   291   -1.15
        20   281   -1.25
        30   271   -1.35
Loop time of 1 on 1 procs
   Step          Time          c_msd[4]
        30   0.03   0.0
        40   0.04   0.5
"""
    parser = ThermoParser()
    rows = [r for r in (parser.feed(line) for line in log.splitlines()) if r]
    assert len(rows) == 8
    table = parser.table()
    # the resumed block replaces steps 10, 20; the next run's first row (step 30) replaces its twin
    assert table["Step"].tolist() == [0, 10, 20, 30, 40]
    assert table["Temp"][:3].tolist() == [300, 291, 281]
    assert np.isnan(table["Temp"][3]) and table["c_msd[4]"].tolist()[3:] == [0.0, 0.5]


def test_md_settings_errors_name_the_key(tmp_path):
    from bda_hpc.atomistic.lammps.stage import load_settings

    cfg = tmp_path / "md.toml"
    cfg.write_text("[md]\nmodel = 'm.h5'\n[md.diffusion]\ntemperatures = [400.0]\n")
    with pytest.raises(ConfigError, match=r"md\.toml:\[md\]\.diffusion\.temperatures: at least two"):
        load_settings(str(cfg), {})
    cfg.write_text("[md]\n[md.run]\nensemble = 'nph'\n")
    with pytest.raises(ConfigError, match=r"ensemble.*'nve'"):
        load_settings(str(cfg), {})
    cfg.write_text("[md]\nmodel = 'm.h5'\n")
    assert load_settings(str(cfg), {}).model == str(tmp_path / "m.h5")


def test_example_config_and_jobscript_are_valid():
    import subprocess

    from conftest import REPO

    from bda_hpc.atomistic.lammps.stage import load_settings

    s = load_settings(str(REPO / "examples/md_li.toml"), {})
    assert 2 * np.prod(s.diffusion.repeat) - s.diffusion.vacancies >= 10_000 and len(s.diffusion.temperatures) >= 3
    assert subprocess.run(["bash", "-n", str(REPO / "jobscripts/md_li.sbatch")]).returncode == 0


def test_time_origin_msd_of_one_wrapped_walker():
    """One periodic random walk of known D: unwrapped, origin-averaged MSD gives D back."""
    rng = np.random.default_rng(5)
    D, dt, L = 0.8, 0.05, 10.0
    path = np.cumsum(rng.normal(0, np.sqrt(2 * D * dt), (20000, 2)), axis=0)
    wrapped = path % L
    xy = np.column_stack([analysis.unwrap(wrapped[:, 0], L), analysis.unwrap(wrapped[:, 1], L)])
    np.testing.assert_allclose(xy - xy[0], path - path[0], atol=1e-9)
    lags = 200
    msd = analysis.time_averaged_msd(xy, lags)
    got, err = analysis.diffusivity(dt * np.arange(lags + 1), msd, 2)
    assert got == pytest.approx(D, rel=0.15) and analysis.resolved(got, err)
    assert not analysis.resolved(-0.1, 0.05) and not analysis.resolved(0.1, 0.05)


def test_li_metal_parameters_only_from_resolved_results():
    from bda_hpc.atomistic.lammps.workflows import parameters

    results = {"diffusion": {"temperatures_K": [350.0, 400.0, 450.0], "D_A2_per_ps": [1e-3, 4e-3, 1.2e-2],
                             "D_stderr_A2_per_ps": [1e-4, 2e-4, 5e-4], "atoms": 11652, "vacancies": 12,
                             "prefactor": 2.0, "activation_energy": 0.5},
               "surface": {"temperature_K": 300.0, "D_100_A2_per_ps": 0.2, "D_100_stderr_A2_per_ps": 0.01,
                           "D_110_A2_per_ps": 0.05, "D_110_stderr_A2_per_ps": 0.04}}
    assert "self_diffusion_prefactor" not in parameters(results)  # fixed vacancy content, E_f unknown
    # D_cell(T) = 2.0 exp(-0.05 eV / kT) at 12 vacancies in 11,664 sites and E_f = 0.5 eV: equilibrium
    # D_self = D_cell exp(-E_f / kT) / (12 / 11664), Q = 0.55 eV, D0 = 2.0 * 972 Å^2/ps
    T = np.array(results["diffusion"]["temperatures_K"])
    results["diffusion"]["D_A2_per_ps"] = list(2.0 * np.exp(-0.05 / (analysis.KB_EV * T)))
    out = parameters(results, formation_energy=0.5)
    assert out["self_diffusion_prefactor"].value == pytest.approx(2.0 * 972 * 1e-8, rel=1e-9)
    assert out["self_diffusion_prefactor"].units == "m^2/s"
    assert out["self_diffusion_activation_energy"].value == pytest.approx(0.55 * 1.602176634e-19, rel=1e-9)
    assert out["surface_diffusion_100"].value == pytest.approx(0.2e-8)
    assert "surface_diffusion_110" not in out            # 0.05 ± 0.04 is not resolved
    assert out["surface_diffusion_temperature"].value == 300.0
    results["diffusion"]["D_stderr_A2_per_ps"][0] = 1.0   # one temperature unresolved: no Arrhenius parameters
    assert "self_diffusion_prefactor" not in parameters(results, formation_energy=0.5)
