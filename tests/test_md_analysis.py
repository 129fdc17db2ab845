"""MD analysis (diffusivity, Arrhenius, roughness), thermo parsing and [md] settings: checked on data
with known answers (random walks of known D, exact Arrhenius data, constructed surfaces)."""
import numpy as np
import pytest
from scipy.signal import lfilter

from bda_hpc.atomistic.diffusion import blocked_mean
from bda_hpc.atomistic.lammps import analysis
from bda_hpc.atomistic.lammps.runner import ThermoParser
from bda_hpc.errors import ConfigError, SolverError


@pytest.mark.parametrize("dims", [2, 3])
def test_diffusivity_and_its_error_on_random_walks(dims):
    """200 independent runs of 50 walkers of known D: the estimates scatter around D by what their
    blocked standard errors say (the error is calibrated, not just small)."""
    rng = np.random.default_rng(1)
    D, dt, nsteps, nwalkers, runs = 0.37, 0.01, 256, 50, 200
    t = dt * np.arange(nsteps + 1)
    got, errs = [], []
    for _ in range(runs):
        steps = rng.normal(0, np.sqrt(2 * D * dt), (nsteps, nwalkers, dims))
        path = np.concatenate([np.zeros((1, nwalkers, dims)), np.cumsum(steps, axis=0)])
        d, e = analysis.msd_diffusivity(t, (path ** 2).sum(axis=2).mean(axis=1), dims)
        got.append(d)
        errs.append(e)
    got, errs = np.array(got), np.array(errs)
    assert abs(got.mean() - D) < 4 * got.std() / np.sqrt(runs)  # unbiased
    assert 0.8 < got.std() / np.sqrt(np.mean(errs ** 2)) < 1.25  # calibrated error bars


def test_blocked_mean_error_of_a_correlated_series():
    """AR(1) series x_k = phi x_(k-1) + noise: the standard error of the mean is sqrt((1 + phi) / (1 - phi))
    times the naive one; blocking finds it, the naive estimate is 4.4x too small."""
    rng = np.random.default_rng(2)
    phi, n, runs = 0.9, 8192, 100
    means, errs = [], []
    for _ in range(runs):
        noise = rng.normal(0, 1, n)
        noise[0] /= np.sqrt(1 - phi ** 2)  # stationary start
        m, e = blocked_mean(lfilter([1.0], [1.0, -phi], noise))
        means.append(m)
        errs.append(e)
    exact = np.sqrt((1 + phi) / (1 - phi) / (1 - phi ** 2) / n)  # sigma_x^2 = 1 / (1 - phi^2)
    assert 0.8 < np.mean(errs) / exact < 1.2
    assert 0.75 < np.std(means) / exact < 1.3
    with pytest.raises(SolverError, match="at least 32 samples"):
        blocked_mean(np.ones(20))


def test_arrhenius_recovers_prefactor_and_barrier():
    T = np.array([300.0, 400.0, 500.0, 650.0])
    D = 3.1e-2 * np.exp(-0.55 / (analysis.KB_EV * T))
    fit = analysis.arrhenius(T, D)
    assert fit["prefactor"] == pytest.approx(3.1e-2, rel=1e-10)
    assert fit["activation_energy"] == pytest.approx(0.55, rel=1e-10)
    with pytest.raises(SolverError, match="positive diffusivities"):
        analysis.arrhenius(T, -D)
    # weighted: exact points with 10 % errors give the error-propagated uncertainty of the slope,
    # sigma_Q = 0.1 / sqrt(sum (x - mean x)^2), x = 1/kT
    fit = analysis.arrhenius(T, D, 0.1 * D)
    x = 1 / (analysis.KB_EV * T)
    assert fit["activation_energy"] == pytest.approx(0.55, rel=1e-10)
    assert fit["activation_energy_unc"] == pytest.approx(0.1 / np.sqrt(np.sum((x - x.mean()) ** 2)), rel=1e-10)


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


def test_one_wrapped_vibrating_walker():
    """One periodic random walk of known D plus vibrations (an adatom in a periodic cell), 200 times:
    unwrapped, the window-averaged estimate is unbiased with calibrated errors; vibrations alone
    give no diffusion."""
    rng = np.random.default_rng(5)
    D, dt, L, n, runs = 0.8, 0.05, 10.0, 4000, 200
    got, errs = [], []
    for _ in range(runs):
        path = np.cumsum(rng.normal(0, np.sqrt(2 * D * dt), (n, 2)), axis=0) + rng.normal(0, 0.3, (n, 2))
        wrapped = path % L
        xy = np.column_stack([analysis.unwrap(wrapped[:, 0], L), analysis.unwrap(wrapped[:, 1], L)])
        d, e = analysis.trajectory_diffusivity(dt * np.arange(n), xy, 2)
        got.append(d)
        errs.append(e)
    np.testing.assert_allclose(xy - xy[0], path - path[0], atol=1e-9)
    got, errs = np.array(got), np.array(errs)
    assert abs(got.mean() - D) < 4 * got.std() / np.sqrt(runs)
    assert 0.75 < got.std() / np.sqrt(np.mean(errs ** 2)) < 1.33
    still, err = analysis.trajectory_diffusivity(dt * np.arange(n), rng.normal(0, 0.3, (n, 2)), 2)
    assert not analysis.resolved(still, err) and still < 0.01 * D
    assert not analysis.resolved(-0.1, 0.05) and not analysis.resolved(0.1, 0.05)


def test_li_metal_parameters_only_from_resolved_results():
    from bda_hpc.atomistic.lammps.workflows import parameters

    results = {"diffusion": {"temperatures_K": [350.0, 400.0, 450.0], "D_A2_per_ps": [1e-3, 4e-3, 1.2e-2],
                             "D_stderr_A2_per_ps": [1e-4, 2e-4, 5e-4], "atoms": 11652, "vacancies": 12,
                             "prefactor": 2.0, "activation_energy": 0.5},
               "surface": {"reference_temperature_K": 300.0,
                           "100": {"md": {"temperatures_K": [300.0], "D_A2_per_ps": [0.2],
                                          "D_stderr_A2_per_ps": [0.01]}},
                           "110": {"md": {"temperatures_K": [300.0], "D_A2_per_ps": [0.05],
                                          "D_stderr_A2_per_ps": [0.04]}}}}
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
    assert out["surface_diffusion_100"].uncertainty == pytest.approx(0.01e-8)
    assert "surface_diffusion_110" not in out            # 0.05 ± 0.04 is not resolved
    assert out["surface_diffusion_temperature"].value == 300.0
    results["surface"]["100"]["md"]["crystalline"] = [False]  # the surface layer wandered: not an adatom's D
    assert "surface_diffusion_100" not in parameters(results)
    # not resolved by MD at 300 K: the Arrhenius fit of other temperatures, else NEB + harmonic TST
    surf = results["surface"]["110"]
    surf["md"] = {"temperatures_K": [200.0, 250.0, 350.0], "prefactor": 2.0, "prefactor_unc": 0.2,
                  "activation_energy": 0.1, "activation_energy_unc": 0.0}
    d = parameters(results)["surface_diffusion_110"]
    assert d.value == pytest.approx(2.0 * np.exp(-0.1 / (analysis.KB_EV * 300)) * 1e-8)
    assert d.uncertainty == pytest.approx(0.1 * d.value) and "Arrhenius" in d.method
    surf["md"] = {}
    surf["neb"] = {"D_m2_per_s": 3e-9, "events": [{"name": "(110) hop 1", "barrier": 0.05, "attempt_frequency": 1e12,
                                                   "length": 3.0, "multiplicity": 4, "path_energies": []}]}
    d = parameters(results)["surface_diffusion_110"]
    assert d.value == 3e-9 and "NEB ((110) hop 1 0.050 eV)" in d.method
    results["diffusion"]["D_stderr_A2_per_ps"][0] = 1.0   # one temperature unresolved: no Arrhenius parameters
    assert "self_diffusion_prefactor" not in parameters(results, formation_energy=0.5)


def test_surface_hop_geometry_and_harmonic_tst_diffusivity():
    """Hop classes of the ideal slabs (bcc a: (100) 4 x a; (110) 4 x a sqrt(3)/2 and 2 x a along [001]),
    and D = sum m nu exp(-E/kT) l^2 / 4: on (100) four hops of length a give D = a^2 Gamma."""
    from bda_hpc.atomistic.lammps import surface_neb as sn

    a = 3.44
    got = {f: [(round(l, 3), c) for l, _v, c in sn.surface_translations(sn.adatom_slab(f, a))] for f in ("100", "110")}
    assert got == {"100": [(a, 4), (round(a * np.sqrt(2), 3), 4)], "110": [(round(a * np.sqrt(3) / 2, 3), 4), (a, 2)]}
    hop = sn.HopEvent("hop", 0.1, 2e12, a, 4, [])
    T = 300.0
    gamma = 2e12 * np.exp(-0.1 / (sn.KB_EV * T))
    assert sn.diffusivity([hop], T) == pytest.approx((a * 1e-10) ** 2 * gamma, rel=1e-12)
