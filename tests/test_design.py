"""bda_hpc.design: sampling, run table, surrogates, acquisition, the loop (analytic problems with known
answers), failure and bad-input handling, and one small DFN fast-charge run."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.stats import norm

from bda_hpc.design.acquisition import expected_improvement, probability_feasible
from bda_hpc.design.dataset import Dataset, from_sweep_table, read_dataset
from bda_hpc.design.evaluate import PoolEvaluator, SerialEvaluator
from bda_hpc.design.loop import DesignLoop, LoopSettings, best_so_far
from bda_hpc.design.problems import ConstrainedQuadratic, Constraint
from bda_hpc.design.space import DesignSpace, Variable
from bda_hpc.design.surrogate import EnsembleSurrogate, SurrogateSettings, r2_score, split_indices
from bda_hpc.errors import InputError
from bda_hpc.io.params import write_params

torch.set_num_threads(1)
TINY = SurrogateSettings(members=4, hidden=[24, 24], epochs=400, patience=80, learning_rate=1e-2)


def unit_square(problem):
    return DesignSpace([Variable("x", 0.0, 1.0), Variable("y", 0.0, 1.0)], problem.limits)


# ---- design space and sampling -----------------------------------------------------------------------
def test_range_outside_what_the_simulator_accepts_is_rejected_by_name():
    limits = {"negative.thickness": (1e-5, 2e-4), "negative.porosity": (0.1, 0.6)}
    with pytest.raises(InputError, match=r"negative.porosity: range \[0.05, 0.5\] leaves"):
        DesignSpace([Variable("negative.thickness", 2e-5, 1e-4), Variable("negative.porosity", 0.05, 0.5)], limits)
    with pytest.raises(InputError, match="negative.radius: not a variable this problem accepts"):
        DesignSpace([Variable("negative.radius", 1e-6, 2e-6)], limits)
    with pytest.raises(InputError, match="high .* must exceed low"):
        DesignSpace([Variable("negative.thickness", 1e-4, 2e-5)], limits)


def test_latin_hypercube_puts_one_point_in_every_stratum_and_maps_back():
    space = DesignSpace([Variable("a", 2.0, 4.0), Variable("d", 1e-12, 1e-9, "m^2/s", log=True)])
    n = 32
    X = space.sample(n, "lhs", seed=3)
    U = space.to_unit(X)
    for j in range(2):
        assert sorted(np.floor(U[:, j] * n).astype(int)) == list(range(n))
    assert np.allclose(space.from_unit(U), X, rtol=1e-12)
    assert X[:, 1].min() >= 1e-12 and X[:, 1].max() <= 1e-9
    S = space.sample(16, "sobol", seed=1)  # 16 = 2^4: balanced in each half of every axis
    assert np.all(np.sum(space.to_unit(S) < 0.5, axis=0) == 8)


def test_point_outside_the_box_is_rejected_before_any_simulation():
    problem = ConstrainedQuadratic()
    calls = []

    class Recording(SerialEvaluator):
        def __call__(self, problem, points):
            calls.append(points)
            return super().__call__(problem, points)

    loop = DesignLoop(problem, unit_square(problem), Recording(), LoopSettings(budget=10, initial=4), TINY)
    with pytest.raises(InputError, match=r"batch-1 point 1: y = 1.2 lies outside \[0, 1\]"):
        loop.simulate(np.array([[0.5, 0.5], [0.5, 1.2]]), "batch-1")
    assert calls == [] and len(loop.data) == 0


# ---- run table -----------------------------------------------------------------------------------------
def test_failed_runs_are_kept_with_their_message_and_survive_the_file(tmp_path):
    d = Dataset(["x"], ["f", "g"], ["m"], ["J", ""])
    d.append(np.array([1.0]), {"f": 2.0, "g": 3.0}, "initial", seconds=1.5)
    d.append(np.array([2.0]), None, "initial", "SolverError: diverged")
    d.append(np.array([3.0]), {"f": np.nan, "g": 1.0}, "batch-1", predicted={"f": (4.0, 0.5)})
    assert d.status == ["ok", "failed", "failed"]
    assert "non-finite output f" in d.message[2]
    path = write_params(tmp_path / "t.h5", "design", {}, results={"dataset": d.to_results()})
    back = read_dataset(path)
    assert back.status == d.status and back.message == d.message and back.origin == d.origin
    assert np.array_equal(back.X, d.X) and np.allclose(back.Y, d.Y, equal_nan=True)
    assert back.P_mean[2, 0] == 4.0 and np.isnan(back.P_mean[0, 0]) and back.output_units == ["J", ""]


def test_sweep_table_from_the_batch_driver_becomes_a_dataset(tmp_path):
    columns = {"model.i": np.array([0.1, 0.2, 0.3]), "height": (np.array([1.0, np.nan, 3.0]), "m"),
               "case_dir": np.array([b"case-0000", b"case-0001", b"case-0002"])}
    path = write_params(tmp_path / "s_sweep.h5", "sweep", {},
                        results={"sweep": columns, "swept_keys": np.array([b"model.i"])})
    d = from_sweep_table(path, ["model.i"], ["height"])
    assert d.status == ["ok", "failed", "ok"] and d.output_units == ["m"]
    with pytest.raises(Exception, match="no column tip"):
        from_sweep_table(path, ["model.i"], ["tip"])


# ---- surrogates ----------------------------------------------------------------------------------------
def test_ensemble_learns_an_analytic_function_and_flags_extrapolation():
    rng = np.random.default_rng(0)
    X = rng.random((120, 2))
    y = np.sin(3.0 * X[:, 0]) + X[:, 1] ** 2
    tr, va, te = split_indices(len(y), seed=0)
    sur = EnsembleSurrogate(SurrogateSettings(members=4, hidden=[32, 32], epochs=800, patience=200)).fit(
        X[tr], y[tr], X[va], y[va])
    mean, std = sur.predict(X[te])
    assert r2_score(y[te], mean) > 0.99
    a = sur.assess(np.array([[0.5, 0.5], [3.0, 3.0]]))
    assert not a["extrapolating"][0] and a["extrapolating"][1]
    assert a["outside_distance"][1] == pytest.approx(2.0, abs=0.05)  # (3 - max) / (max - min), data ~[0, 1]
    assert a["std"][1] > 10 * a["std"][0]  # the members disagree far from the data


def test_calibrated_intervals_cover_held_out_noisy_data_at_their_nominal_level():
    """Noisy data (sd 0.1 around a smooth function): the members agree with each other far more closely
    than with the data, so the raw spread covers too few held-out points; variance scaling fitted on
    the validation runs brings 68 % / 95 % intervals to their nominal coverage on 400 unseen runs."""
    from bda_hpc.design.assessment import coverage

    rng = np.random.default_rng(4)

    def f(X):
        return np.sin(3.0 * X[:, 0]) + X[:, 1] ** 2

    X, X_test = rng.random((240, 2)), rng.random((400, 2))
    y, y_test = f(X) + 0.1 * rng.standard_normal(240), f(X_test) + 0.1 * rng.standard_normal(400)
    sur = EnsembleSurrogate(SurrogateSettings(members=4, hidden=[24, 24], epochs=600, patience=100)).fit(
        X[:180], y[:180], X[180:], y[180:])
    mean, sigma = sur.predict(X_test)
    raw = coverage(y_test, mean, sur.predict(X_test, raw=True)[1])
    cal = coverage(y_test, mean, sigma)
    assert raw["95"] < 0.8  # overconfident before
    assert 0.6 < cal["68"] < 0.76 and 0.91 < cal["95"] < 0.98
    assert np.median(sigma) == pytest.approx(0.1, rel=0.3)  # the noise it had to learn


def test_r2_of_perfect_and_of_mean_predictions():
    y = np.array([1.0, 2.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(3, y.mean())) == pytest.approx(0.0)


# ---- acquisition ---------------------------------------------------------------------------------------
def test_expected_improvement_matches_monte_carlo():
    rng = np.random.default_rng(1)
    mean, std, best = np.array([0.3, 1.0, -0.5]), np.array([0.2, 0.5, 1e-3]), 0.5
    samples = mean + std * rng.standard_normal((400_000, 3))
    mc = np.maximum(best - samples, 0).mean(axis=0)
    assert np.allclose(expected_improvement(mean, std, best), mc, rtol=1e-2, atol=1e-4)
    assert expected_improvement(np.array([0.2]), np.array([0.0]), 0.5)[0] == pytest.approx(0.3)


def test_probability_of_feasibility_is_the_normal_mass_inside_the_bounds():
    means, stds = {"g": np.array([0.0, 1.0]), "h": np.array([2.0, 2.0])}, {"g": np.ones(2), "h": np.full(2, 0.5)}
    pof = probability_feasible(means, stds, [Constraint("g", lower=0.0), Constraint("h", lower=1.0, upper=2.5)])
    inside_h = norm.cdf(1.0) - norm.cdf(-2.0)
    assert np.allclose(pof, [0.5 * inside_h, norm.cdf(1.0) * inside_h])


# ---- the loop --------------------------------------------------------------------------------------
def test_loop_finds_the_constrained_optimum_records_failures_and_verifies(tmp_path):
    problem = ConstrainedQuadratic(fail_above=0.9)
    space = unit_square(problem)
    settings = LoopSettings(budget=20, initial=8, batch=3, seed=0, liar_epochs=60, candidates=1024)
    loop = DesignLoop(problem, space, SerialEvaluator(), settings, TINY, tmp_path / "ck.h5")
    summary = loop.run(progress=lambda msg: None)
    d = loop.data
    assert len(d) == 20 and d.origin[-1] == "verify"
    failed = [i for i, s in enumerate(d.status) if s == "failed"]
    assert all(d.X[i, 1] > 0.9 and "synthetic failure" in d.message[i] for i in failed)
    assert not np.any(d.X[d.ok][:, 1] > 0.9)
    proposed = [i for i, o in enumerate(d.origin) if o != "initial"]
    assert np.all(np.isfinite(d.P_mean[proposed][:, 0]))  # every proposal carries its prediction
    answer = summary["answer"]
    assert answer["simulated"]["g"] >= 0.0  # feasible
    assert answer["simulated"]["f"] > -0.05  # f* = -0.04 at (0.5, 0.3); a random design averages ~ -0.3
    v = summary["verify"]
    assert v["simulated"]["f"] == pytest.approx(problem.simulate(v["point"])["f"])
    assert set(v["predicted"]) == {"f", "g"}
    # resume: a second loop with a larger budget continues from the checkpoint
    more = DesignLoop(problem, space, SerialEvaluator(), LoopSettings(budget=24, initial=8, batch=3, liar_epochs=60,
                                                                       candidates=1024), TINY, tmp_path / "ck.h5")
    assert np.array_equal(more.data.X, d.X)


def test_best_so_far_ignores_infeasible_runs():
    trace = best_so_far(np.array([5.0, 9.0, 7.0, 8.0]), np.array([False, False, True, True]), "max")
    assert np.isnan(trace[:2]).all() and list(trace[2:]) == [7.0, 8.0]


def test_worker_failure_is_recorded_and_the_batch_goes_on():
    problem = ConstrainedQuadratic(fail_above=0.5)
    pool = PoolEvaluator(2)
    try:
        out = pool(problem, [{"x": 0.1, "y": 0.2}, {"x": 0.1, "y": 0.7}, {"x": 0.6, "y": 0.3}])
    finally:
        pool.close()
    assert out[0][0]["f"] == pytest.approx(-0.37) and out[2][0]["g"] == pytest.approx(-0.1)
    assert out[1][0] is None and "synthetic failure at y = 0.7" in out[1][1]


# ---- the stage ---------------------------------------------------------------------------------------
def _design_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "bda_hpc.cli", "design", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def test_stage_rejects_a_bad_range_and_leaves_earlier_output_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "design.h5").write_bytes(b"earlier result")
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[design]\nproblem = "cell_fastcharge"\n[[design.variables]]\nname = "negative.porosity"\n'
                   'low = 0.3\nhigh = 0.95\n')
    r = _design_cli("--config", str(cfg), "--out-dir", str(out))
    assert r.returncode != 0
    assert "negative.porosity: range [0.3, 0.95] leaves the range the simulator accepts [0.1, 0.6]" in r.stderr
    assert (out / "design.h5").read_bytes() == b"earlier result"
    assert not (out / "design_checkpoint.h5").exists()


def test_stage_on_the_threshold_problem_agrees_with_a_brute_force_sweep(tmp_path):
    """Problem (a)'s shape on an analytic height h = 2 i^1.5: largest i with h <= 1 is 0.5^(2/3)."""
    from bda_hpc.config import from_dict
    from bda_hpc.design.stage import DesignConfig, run_design
    from bda_hpc.io.params import read_params, read_results

    cfg = from_dict(DesignConfig, {
        "problem": "threshold_current", "options": {"h_max": 1.0}, "workers": 1, "brute_force": 21,
        "learning_curve": False, "variables": [{"name": "current", "low": 0.0, "high": 2.0, "units": "A/m^2"}],
        "loop": {"budget": 13, "initial": 5, "batch": 2, "liar_epochs": 60, "candidates": 512},
        "surrogate": {"members": 4, "hidden": [24, 24], "epochs": 400, "patience": 80}})
    out = run_design(cfg, tmp_path)
    exact = 0.5 ** (2.0 / 3.0)
    sweep_best = out["sweep"]["best_x"]
    assert sweep_best == pytest.approx(0.6) and out["sweep"]["resolution"] == pytest.approx(0.1)
    p = read_params(tmp_path / "design.h5")
    found = p.require("current", units="A/m^2")
    assert found <= exact + 1e-12  # feasible: the answer is a simulated run, never a prediction
    assert abs(found - sweep_best) <= 0.1 and exact - found < 0.1
    assert read_results(tmp_path / "design.h5", "verification/simulated/height") <= 1.0 or \
        read_results(tmp_path / "design.h5", "verification/feasible") == np.False_
    assert (tmp_path / "trace.png").stat().st_size > 0 and (tmp_path / "parity.png").stat().st_size > 0


def test_cell_fastcharge_run_conserves_charge_against_its_nominal_capacity():
    """One DFN run of problem (b): the charged capacity equals the requested current x time, the
    discharge reaches the expected share of the nominal capacity computed here from the Chen2020 data."""
    from bda_hpc.design.problems import CellFastCharge

    problem = CellFastCharge(charge_c_rate=1.5)  # 1.5C: no cut-off is reached, the charge is current x time
    point = {"negative.thickness": 6.0e-5, "positive.thickness": 5.5e-5, "negative.porosity": 0.3,
             "positive.porosity": 0.3}
    out = problem.simulate(point)
    area = 0.065 * 1.58
    faraday = 96485.33212
    q_neg = area * 6.0e-5 * 0.7 * 33133 * (0.9014 - 0.0279) * faraday / 3600
    q_pos = area * 5.5e-5 * 0.7 * 63104 * (0.9084 - 0.2661) * faraday / 3600
    nominal = min(q_neg, q_pos)
    assert 0.85 * nominal < out["discharge_capacity"] <= 0.95 * nominal * (1 + 1e-6)
    charge_s = 15 * 60.0 - 6.0 + 2.0 * (0.25 + 0.5 + 0.75)  # the ramp's three 2-s steps at 1/4, 1/2, 3/4
    assert out["charged_capacity"] == pytest.approx(1.5 * nominal * charge_s / 3600, rel=1e-6)
    stack_litre = area * (6.0e-5 + 1.2e-5 + 5.5e-5) * 1e3
    assert out["energy_density"] == pytest.approx(out["discharge_energy"] / stack_litre)
    assert -0.2 < out["anode_overpotential_min"] < 0.2


@pytest.mark.slow  # three phase-field subprocesses: ~30 s on a quiet 2-core machine
def test_dendrite_problem_plates_the_given_charge_and_reports_failures(tmp_path):
    """Problem (a)'s adapter on a tiny grid: the run is extended until the target charge is plated, the
    outputs are interpolated to that charge (current x time = charge), and a run that fails in the stage
    or cannot plate the charge in time becomes a failed run with its message."""
    from bda_hpc.design.evaluate import run_one
    from bda_hpc.design.phasefield_problem import DendriteThreshold

    base = tmp_path / "tiny.toml"
    base.write_text('[phasefield]\nmodel = "li_deposition"\ncells = [16, 12]\nspacing = [1.0, 1.0]\n'
                    'dt_initial = 1e-3\ndt_max = 0.02\nprogress_seconds = 60.0\nsnapshots = false\n'
                    '[phasefield.setup]\nfront = 6.0\nnuclei = [[6.0, 2.0]]\n'
                    '[phasefield.petsc]\nts_rtol = 1e-3\nts_atol = 1e-3\n')
    problem = DendriteThreshold(base_config=str(base), charge_density=600.0)
    out, message, _ = run_one(problem, {"applied_potential": -0.4})
    assert message == ""
    assert out["current_density"] * out["time_to_charge"] == pytest.approx(600.0)
    assert out["charge_at_end"] >= 600.0
    # 600 C/m^2 is a flat layer of 600 / (F c_s) = 81 nm: the 2 µm nucleus's tip has barely moved
    assert 1.5e-6 < out["max_dendrite_height"] < 2.5e-6
    out, message, _ = run_one(problem, {"applied_potential": -0.4, "anisotropy": 0.1})
    assert out is None and "phase-field run failed" in message and "anisotropy" in message
    slow = DendriteThreshold(base_config=str(base), charge_density=600.0, t_max=0.01)
    out, message, _ = run_one(slow, {"applied_potential": -0.4})
    assert out is None and "of 600 C/m^2 plated by t_max = 0.01 s" in message
