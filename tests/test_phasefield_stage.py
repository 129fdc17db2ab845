"""The phasefield stage: outputs, restart = uninterrupted run, upstream inputs, bad input."""
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_mpi

h5py = pytest.importorskip("h5py")
pytest.importorskip("petsc4py")

CH_CONFIG = """
[phasefield]
model = "cahn_hilliard"
cells = [24, 20]
spacing = [5.0, 5.0]
t_end = {t_end}
dt_initial = 0.01
dt_max = 5.0
output_interval = 10.0
snapshots = false
"""

LI_CONFIG = """
[phasefield]
model = "li_deposition"
cells = [16, 8]
spacing = [1.0, 1.0]
t_end = {t_end}
dt_initial = 1e-3
dt_max = 0.05
output_interval = 0.05
[phasefield.setup]
front = 5.0
nuclei = [[4.0, 2.0]]
[phasefield.physics]
interface_mobility = {mobility}
"""


def _stage(tmp_path, text, out, *extra, params=()):
    cfg = tmp_path / f"{out}.toml"
    cfg.write_text(text)
    args = [sys.executable, "-m", "bda_hpc.cli", "phasefield", "--config", str(cfg), "--out-dir",
            str(tmp_path / out), *extra]
    for p in params:
        args += ["--params", str(p)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def _fields(path, names):
    with h5py.File(path, "r") as f:
        return {n: f[n][()] for n in names}


def _assert_same_time_series(actual, desired, rtol):
    """Two runs' time series, the same steps to the same states (rtol), where the linear solves differ (another
    preconditioner, or a lagged one): the current, a rate (from ξ̇, so Newton's tolerance on the state over
    dt), to 1e-4. At the first, shortest steps (dt ~ 7e-5 s) one of them differed by 4.7e-5 (the median over
    the run 2e-8)."""
    current = 3
    np.testing.assert_allclose(np.delete(actual, current, 1), np.delete(desired, current, 1), rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(actual[:, current], desired[:, current], rtol=1e-4, atol=1e-12)


def test_li_stage_outputs_and_restart_matches_uninterrupted(tmp_path):
    full = _stage(tmp_path, LI_CONFIG.format(t_end=0.1, mobility=2.5e-6), "full")
    assert full.returncode == 0, full.stderr
    out = tmp_path / "full"
    for name in ("dendrite.h5", "timeseries.csv", "timeseries.h5", "fields.xmf", "fields_00002.h5",
                 "snapshot_00002.png", "checkpoint.h5"):
        assert (out / name).exists(), name
    from bda_hpc.io.params import read_params

    ps = read_params(out / "dendrite.h5")
    assert ps.meta["stage"] == "phasefield"
    for name, units in (("max_dendrite_height", "m"), ("mean_deposit_thickness", "m"),
                        ("space_utilisation", "1"), ("interface_area_ratio", "1")):
        assert np.isfinite(ps.require(name, units=units))
    assert ps.require("max_dendrite_height", units="um") > 1.0  # the 2 µm nucleus is there and grew
    assert "t=" in full.stderr and "eta=" in full.stderr or "phase-field done" in full.stderr

    # first half, then --restart with the longer end time: same state as the uninterrupted run
    half = _stage(tmp_path, LI_CONFIG.format(t_end=0.05, mobility=2.5e-6), "split")
    assert half.returncode == 0, half.stderr
    rest = _stage(tmp_path, LI_CONFIG.format(t_end=0.1, mobility=2.5e-6), "split", "--restart")
    assert rest.returncode == 0, rest.stderr
    a = _fields(out / "fields_00002.h5", ["xi", "c", "phi"])
    b = _fields(tmp_path / "split" / "fields_00002.h5", ["xi", "c", "phi"])
    for n in a:
        np.testing.assert_allclose(b[n], a[n], rtol=0, atol=1e-10)
    ta = np.loadtxt(out / "timeseries.csv", delimiter=",", skiprows=1)
    tb = np.loadtxt(tmp_path / "split" / "timeseries.csv", delimiter=",", skiprows=1)
    _assert_same_time_series(tb, ta, rtol=1e-9)


def test_negative_mobility_is_one_clear_error(tmp_path):
    r = _stage(tmp_path, LI_CONFIG.format(t_end=0.1, mobility=-1.0), "bad")
    assert r.returncode != 0
    assert "interface_mobility: must be positive" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "bad").exists()


def test_named_preconditioner_gives_the_default_solvers_time_series(tmp_path):
    """Per-rank LU (asm_lu, a named choice) against the default Schur split with BoomerAMG on φ."""
    named = LI_CONFIG.format(t_end=0.1, mobility=2.5e-6).replace(
        "[phasefield.setup]", 'preconditioner = "asm_lu"\n[phasefield.setup]')
    for text, out in ((LI_CONFIG.format(t_end=0.1, mobility=2.5e-6), "default"), (named, "named")):
        r = _stage(tmp_path, text, out)
        assert r.returncode == 0, r.stderr
    a, b = (np.loadtxt(tmp_path / out / "timeseries.csv", delimiter=",", skiprows=1) for out in ("default", "named"))
    assert a.shape == b.shape  # the same adaptive steps ...
    _assert_same_time_series(b[1:], a[1:], rtol=1e-5)  # ... to the solver tolerances
    # at t = 0 the current is a cancellation (≈ 0 of ~5e4 A/m² once deposition starts), resolved by LU to 1e-3
    # and by the iterative consistent start (linear rtol 1e-5) to ~10 A/m²
    assert abs(b[0, 3] - a[0, 3]) < 1e-3 * abs(a[:, 3]).max()


def test_lagged_preconditioner_gives_the_fresh_ones_results(tmp_path):
    """The stage rebuilds its preconditioner every 16th Newton iteration; rebuilt at every one (the option the
    user can give), the run takes the same steps to the same states: only the linear iterations differ."""
    text = LI_CONFIG.format(t_end=0.1, mobility=2.5e-6)
    iterations = {}
    for out, extra in (("lagged", ()), ("fresh", ("-pf_snes_lag_preconditioner", "1"))):
        r = _stage(tmp_path, text, out, "-pf_ksp_converged_reason", *extra)
        assert r.returncode == 0, r.stderr
        iterations[out] = sum(int(n) for n in re.findall(r"Linear pf_ solve converged due to \w+ iterations (\d+)",
                                                          r.stdout))
    assert iterations["lagged"] > iterations["fresh"] > 0  # stale factors cost GMRES iterations: the lag is on
    a, b = (np.loadtxt(tmp_path / out / "timeseries.csv", delimiter=",", skiprows=1) for out in ("fresh", "lagged"))
    assert a.shape == b.shape
    _assert_same_time_series(b, a, rtol=1e-8)
    fa, fb = (_fields(tmp_path / out / "fields_00002.h5", ["xi", "c", "phi"]) for out in ("fresh", "lagged"))
    for n in fa:
        np.testing.assert_allclose(fb[n], fa[n], rtol=0, atol=1e-8)


def test_consistent_start_solves_with_the_runs_preconditioner(tmp_path):
    """The consistent start (φ on the constraint at t = 0) takes the stage's default split as well: a direct LU
    there, its fallback, did not finish the 3D example's start in 5 minutes on 2 ranks."""
    r = _stage(tmp_path, LI_CONFIG.format(t_end=0.002, mobility=2.5e-6), "init", "-pf_init_ksp_view")
    assert r.returncode == 0, r.stderr
    ksp = re.search(r"KSP Object: \(pf_init_\).*\n\s+type: (\w+)", r.stdout)
    pc = re.search(r"PC Object: \(pf_init_\).*\n\s+type: (\w+)", r.stdout)
    assert ksp and pc, r.stdout[-2000:]
    assert (ksp.group(1), pc.group(1)) == ("fgmres", "python")  # python: UnscaledRows around the Schur split


def test_unknown_preconditioner_is_one_clear_error(tmp_path):
    text = LI_CONFIG.format(t_end=0.1, mobility=2.5e-6).replace("[phasefield.setup]", 'preconditioner = "amg"\n'
                                                              "[phasefield.setup]")
    r = _stage(tmp_path, text, "badpc")
    assert r.returncode != 0
    assert "preconditioner: 'amg' is not one of" in r.stderr and "Traceback" not in r.stderr


def test_restart_from_another_grid_is_refused_and_keeps_outputs(tmp_path):
    assert _stage(tmp_path, CH_CONFIG.format(t_end=10.0), "run").returncode == 0
    ckpt = tmp_path / "run" / "checkpoint.h5"
    before = ckpt.read_bytes()
    r = _stage(tmp_path, CH_CONFIG.format(t_end=20.0).replace("[24, 20]", "[20, 20]"), "run", "--restart")
    assert r.returncode != 0
    assert "checkpoint has grid" in r.stderr and "Traceback" not in r.stderr
    assert ckpt.read_bytes() == before


def test_divergence_stops_with_last_checkpoint_intact(tmp_path):
    """A solve that cannot converge (one Newton iteration, no retries) ends with SolverError."""
    ok = _stage(tmp_path, CH_CONFIG.format(t_end=10.0), "div")
    assert ok.returncode == 0
    ckpt = tmp_path / "div" / "checkpoint.h5"
    before = ckpt.read_bytes()
    bad = CH_CONFIG.format(t_end=40.0) + '[phasefield.petsc]\nsnes_max_it = 1\nts_max_snes_failures = 1\n' \
        'snes_rtol = 1e-14\nsnes_atol = 1e-14\n'
    r = _stage(tmp_path, bad, "div", "--restart")
    assert r.returncode != 0
    assert "phase-field time step failed" in r.stderr and "last checkpoint is intact" in r.stderr
    assert ckpt.read_bytes() == before


@pytest.mark.parametrize("delta", [0.03, -0.03])   # bcc Li's (100)/(110)/(111) energies give a negative δ
def test_atomistic_and_cell_inputs_map_onto_the_model(tmp_path, delta):
    from bda_hpc.io.params import Parameter, read_params, write_params
    from bda_hpc.phasefield.li_params import LiPhysical, apply_atomistic, apply_cell, fit_cubic_anisotropy

    g0 = 0.5
    gam = {"100": g0 * (1 + delta), "110": g0 * (1 - delta), "111": g0 * (1 - 5 * delta / 3)}
    assert fit_cubic_anisotropy(*gam.values()) == pytest.approx((g0, delta))
    li = tmp_path / "li_metal.h5"
    write_params(li, "atomistic", {
        **{f"surface_energy_{k}": Parameter(v, "J/m^2", "", "test") for k, v in gam.items()},
        "self_diffusion_prefactor": Parameter(1e-7, "m^2/s", "", "test"),
        "self_diffusion_activation_energy": Parameter(0.55, "eV", "", "test")})
    base = LiPhysical()
    phys, used = apply_atomistic(base, read_params(li))
    # γ = √(2κW)/6 reproduces γ0 and the interface length is kept
    assert np.sqrt(2 * phys.gradient_coefficient * phys.barrier_height) / 6 == pytest.approx(g0)
    assert phys.interface_length == pytest.approx(base.interface_length)
    assert phys.anisotropy == pytest.approx(delta)
    assert phys.diffusivity_electrode == pytest.approx(1e-7 * np.exp(-0.55 * 96485.33212 / (8.314462618 * 300)))
    cell = tmp_path / "cell.h5"
    write_params(cell, "cell", {"anode_current_density": Parameter(30.0, "A/m^2", "", "test")})
    phys2, used2 = apply_cell(base, read_params(cell))
    assert used2["used"] == "anode_current_density"
    # the inverted potential reproduces the flat-front rate
    f = 1 / base.thermal_voltage
    rate = 96485.33212 * base.site_density * 6 * base.interface_length * base.reaction_constant
    assert rate * (np.exp(-0.5 * f * phys2.applied_potential) - np.exp(0.5 * f * phys2.applied_potential)) \
        == pytest.approx(30.0)


def test_grid_too_small_for_the_ranks_is_one_clear_error(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(CH_CONFIG.format(t_end=1.0).replace("[24, 20]", "[1, 1]"))
    r = run_mpi(2, ["-m", "bda_hpc.cli", "phasefield", "--config", str(cfg), "--out-dir", str(tmp_path / "tiny")],
                timeout=120)
    assert r.returncode != 0
    assert "cannot be split over 2 ranks" in r.stderr


def test_short_circuit_ends_the_run_and_a_restart_keeps_it_ended(tmp_path):
    """The dendrite reaches the counter electrode long before t_end: the run ends cleanly at the first step whose
    tip is within short_circuit_gap (default 6 ℓ = 2.25 µm) of the far x face, with the time in dendrite.h5."""
    from bda_hpc.io.params import read_params
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical

    every_step = "progress_seconds = 1e-9\n[phasefield.setup]"  # a progress line at every step
    r = _stage(tmp_path, LI_CONFIG.format(t_end=5.0, mobility=2.5e-6).replace("[phasefield.setup]", every_step),
               "short")
    assert r.returncode == 0, r.stderr
    assert "short circuit" in r.stderr
    # the ETA follows the tip toward the counter electrode, not t toward t_end (t_sc is ~4 % of t_end: measured
    # by t, the last ETA would be ~20x the seconds the run took)
    etas = re.findall(r" eta=(\d+)s", r.stderr)
    assert len(etas) > 10 and int(etas[-1]) <= 1, etas[-5:]
    ps = read_params(tmp_path / "short" / "dendrite.h5")
    t_short = ps.require("short_circuit_time", units="s")
    series = np.loadtxt(tmp_path / "short" / "timeseries.csv", delimiter=",", skiprows=1)
    assert 0 < t_short < 5.0 and series[-1, 0] == pytest.approx(t_short, rel=1e-9)
    # the tip column is the height above the initial front (5 µm): the stop is the first step past 16 µm - 6 ℓ
    stop_gap = 6 * LiDeposition.from_physical(LiPhysical(), 2, front=5.0).interface_length
    gap = 16.0 - 5.0 - series[:, 1] * 1e6
    assert gap[-1] <= stop_gap < gap[-2], (gap[-3:], stop_gap)

    again = _stage(tmp_path, LI_CONFIG.format(t_end=5.0, mobility=2.5e-6), "short", "--restart")
    assert again.returncode == 0, again.stderr
    assert "that run had ended" in again.stderr
    assert read_params(tmp_path / "short" / "dendrite.h5").require("short_circuit_time", units="s") == t_short
    assert np.loadtxt(tmp_path / "short" / "timeseries.csv", delimiter=",", skiprows=1).shape == series.shape


def test_a_stop_check_leaves_the_time_integration_alone():
    """Stop checks see the state after every step. PETSc restarts a multistep method (BDF: a backward-Euler half
    step, then the full step) after any post-step callback that changed the solution's state counter, which
    even a writable read of its array does; the stage's short-circuit check did that at every step until
    session 17 (two nonlinear solves per step, and the step error of a restarted method). The checks get a
    read-only array; a run with one takes exactly the steps and iterations of a run without, and one nonlinear
    solve per step tried (two with the old check)."""
    from mpi4py import MPI

    from bda_hpc.phasefield.cahn_hilliard import CahnHilliard
    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    def run(with_check):
        model = CahnHilliard("a")
        grid = Grid(MPI.COMM_SELF, (24, 20), (5.0, 5.0), model.dof, periodic=model.periodic, faces=model.faces(),
                    field_names=model.fields)
        s = PhaseFieldSolver(MPI.COMM_SELF, grid, model)
        seen, solves = [], []
        s.ts.getSNES().setMonitor(lambda snes, its, norm: solves.append(its) if its == 0 else None)
        if with_check:
            s.stop_checks.append(lambda solver, t, owned: seen.append(owned.flags.writeable) or None)
        s.set_state(model.initial_state(grid))
        s.make_consistent()
        s.advance(20.0, 0.01, 5.0)
        tried = s.step + s.ts.getStepRejections() + s.ts.getSNESFailures()
        result = (s.step, s.ts.getSNESIterations(), s.state().copy(), seen)
        # the segment's first step is a restart: a half step, then the step
        assert len(solves) == tried + 1, (len(solves), tried)
        s.destroy()
        grid.destroy()
        return result

    steps, newton, state, _ = run(False)
    steps_c, newton_c, state_c, writeable = run(True)
    assert len(writeable) == steps_c and not any(writeable)
    assert (steps_c, newton_c) == (steps, newton)
    np.testing.assert_array_equal(state_c, state)
