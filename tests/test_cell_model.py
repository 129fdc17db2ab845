"""DFN model behaviour: lithium inventory, grid convergence, experiments and bad input."""
import numpy as np
import pytest

from bda_hpc.cell.experiment import read_drive_cycle
from bda_hpc.cell.grid import MeshSizes
from bda_hpc.cell.params import load_parameter_set
from bda_hpc.cell.simulate import CellSimulation, lithium_inventory_error, simulate
from bda_hpc.errors import InputError, SolverError

COARSE = MeshSizes(10, 5, 10, 10, 10)


@pytest.fixture(scope="module")
def coarse_sim():
    sim = CellSimulation(load_parameter_set("Chen2020"), COARSE, thermal=True)
    yield sim
    sim.destroy()


def test_lithium_inventory_matches_charge_passed(coarse_sim):
    """Each electrode's Li change equals integral I dt / F (CC discharge, rest, CC charge)."""
    res = coarse_sim.run([{"mode": "current", "c_rate": 2.0, "duration": 900.0},
                          {"mode": "rest", "duration": 300.0},
                          {"mode": "current", "c_rate": -1.0, "duration": 600.0}])
    assert res.step_reasons == ["duration reached"] * 3
    assert res["capacity"][-1] == pytest.approx((2 * 5 * 900 - 5 * 600) / 3600, rel=1e-9)
    assert lithium_inventory_error(coarse_sim, res) < 1e-6


def test_discharge_stops_at_cut_off_and_heats(coarse_sim):
    res = coarse_sim.run([{"mode": "current", "c_rate": 1.0}], output_dt=60.0)
    assert res.step_reasons == ["lower voltage cut-off"]
    assert res["voltage"][-1] == pytest.approx(2.5, abs=1e-6)
    assert 4.5 < res["discharge_capacity"] < 5.0
    assert res["max_temperature"] > 300.0  # 1C heats a 5 Ah cell by >10 K in PyBaMM's lumped model
    # the plating indicator is the anode's phi_s - phi_e: positive on discharge
    assert res["anode_overpotential_min"] > 0
    assert np.all(np.diff(res["time"]) > 0)


def test_cccv_charge_holds_voltage_and_ends_on_current(coarse_sim):
    res = coarse_sim.run([{"mode": "current", "c_rate": 1.0, "duration": 1200.0},
                          {"mode": "current", "c_rate": -1.0},
                          {"mode": "voltage", "voltage": 4.2, "until_current_below": 0.5}])
    assert res.step_reasons == ["duration reached", "upper voltage cut-off", "current below CV limit"]
    cv = res["step"] == 2
    assert np.max(np.abs(res["voltage"][cv] - 4.2)) < 1e-8
    assert res["current"][-1] == pytest.approx(-0.5, rel=1e-3)


def test_drive_cycle_follows_csv_and_gaps_are_rejected(coarse_sim, tmp_path):
    t = np.arange(0.0, 301.0, 1.0)
    amps = 5.0 + 4.0 * np.sin(t / 20.0)
    path = tmp_path / "cycle.csv"
    np.savetxt(path, np.c_[t, amps], delimiter=",", header="time_s,current_A", comments="")
    res = coarse_sim.run([{"mode": "drive_cycle", "drive_cycle": str(path)}])  # accepted steps: exact I
    assert np.max(np.abs(res["current"] - np.interp(res["time"], t, amps))) < 1e-9
    # BDF steps do not land on the CSV knots, so the trapezoid of I over the steps differs from the
    # BDF integral by ~1e-6; conservation itself is shown to 1e-6 (in fact ~1e-10) for CC above
    assert lithium_inventory_error(coarse_sim, res) < 1e-5
    gap = tmp_path / "gap.csv"
    np.savetxt(gap, np.c_[np.r_[t[:100], t[130:]], np.r_[amps[:100], amps[130:]]], delimiter=",")
    with pytest.raises(InputError, match=r"gap of 31 s between t = 99 s and 130 s"):
        read_drive_cycle(gap, max_gap_s=10.0)


def test_exhausted_electrode_is_named_not_nan():
    with pytest.raises(SolverError, match="negative surface stoichiometry came within 1 % of the end"):
        simulate(experiment=[{"mode": "current", "c_rate": 1.0, "until_voltage_below": 0.5}], mesh=COARSE)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(InputError, match="negative.thickness: must be positive"):
        simulate({"negative.thickness": -1e-5})
    with pytest.raises(InputError, match="separator.porosity: must lie in"):
        simulate({"separator.porosity": 1.5})
    with pytest.raises(InputError, match="needs exactly one of c_rate or current"):
        simulate(experiment=[{"mode": "current"}], mesh=COARSE)


def _voltage_at_1800s(mesh):
    res = simulate(experiment=[{"mode": "current", "c_rate": 1.0, "duration": 1800.0}], mesh=mesh,
                   rtol=1e-9, atol=1e-9)
    return res["voltage"][-1]


def test_grid_convergence_orders():
    """Observed orders from three meshes (ratio of successive differences).
    r: second order (spherical FV + linear surface extrapolation). x: first order is what this
    scheme -- identical to PyBaMM's -- shows on this problem (measured 0.87 at 20/40/80 cells)."""
    r = [_voltage_at_1800s(MeshSizes(8, 8, 8, n, n)) for n in (10, 20, 40)]
    order_r = np.log2(abs(r[0] - r[1]) / abs(r[1] - r[2]))
    assert 1.7 < order_r < 2.4
    x = [_voltage_at_1800s(MeshSizes(n, n, n, 8, 8)) for n in (10, 20, 40)]
    order_x = np.log2(abs(x[0] - x[1]) / abs(x[1] - x[2]))
    assert 0.5 < order_x < 2.4
    assert abs(x[1] - x[2]) < 5e-4 and abs(r[1] - r[2]) < 5e-4  # V


def test_consistent_start_of_thin_porous_design():
    """A thin, porous design (from the design sweep) whose algebraic residual stalls at ~1.07e-11 from
    round-off: it was refused as 'no consistent initial state'; a round-off-sized full Newton step is
    accepted as converged now."""
    eps_n, eps_p = 0.489268643529679, 0.43411207909204463  # active fractions = 1 - porosity, as the design sets them
    design = {"negative.thickness": 3.314873653275146e-05, "positive.thickness": 3.142791780847955e-05,
              "negative.porosity": eps_n, "positive.porosity": eps_p,
              "negative.active_fraction": 0.510731356470321, "positive.active_fraction": 0.5658879209079554,
              "negative.particle_radius": 4.511160656774166e-06, "positive.particle_radius": 2.4865523166681035e-06,
              "cell.nominal_capacity_Ah": 1.348690849409386}
    res = simulate(design, experiment=[{"mode": "current", "c_rate": 1.0, "duration": 60.0}])
    assert 3.0 < res["voltage"][-1] < res["voltage"][0] < 4.3
