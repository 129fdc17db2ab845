"""Against PyBaMM's DFN (same finite-volume mesh, rtol = atol = 1e-6): the discretised right-hand
sides agree to the accuracy of our function tables, and full discharges agree within the issue's
tolerances (RMS voltage <= 1 mV, capacity <= 0.2 %, final temperature <= 0.1 K)."""
import numpy as np
import pytest

pybamm = pytest.importorskip("pybamm")

from bda_hpc.cell import residual_ref  # noqa: E402
from bda_hpc.cell.grid import Grid, MeshSizes  # noqa: E402
from bda_hpc.cell.params import load_parameter_set  # noqa: E402
from bda_hpc.cell.pybamm_peer import compare, run_pybamm  # noqa: E402
from bda_hpc.cell.simulate import simulate  # noqa: E402


def test_discretised_equations_match_pybamm():
    """Evaluate PyBaMM's discretised DFN and our NumPy twin at the same perturbed state."""
    sim = pybamm.Simulation(pybamm.lithium_ion.DFN(), parameter_values=pybamm.ParameterValues("Chen2020"))
    sim.build()
    model = sim.built_model
    y0 = model.concatenated_initial_conditions.evaluate(0, None).ravel()
    scale, reference, where = np.ones_like(y0), np.zeros_like(y0), {}
    for var, sl in model.y_slices.items():
        scale[sl[0]] = var.scale.evaluate() if hasattr(var.scale, "evaluate") else var.scale
        reference[sl[0]] = var.reference.evaluate() if hasattr(var.reference, "evaluate") else var.reference
        where[var.name] = sl[0]
    rng = np.random.default_rng(0)
    y = y0.copy()
    cs = slice(where["Negative particle concentration [mol.m-3]"].start,
               where["Positive particle concentration [mol.m-3]"].stop)
    ce = where["Porosity times concentration [mol.m-3]"]
    pots = slice(where["Negative electrode potential [V]"].start, where["Electrolyte potential [V]"].stop)
    y[cs] *= 1 + 0.01 * rng.standard_normal(y[cs].size)
    y[ce] *= 1 + 0.05 * rng.standard_normal(y[ce].size)
    y[pots] += 0.01 * rng.standard_normal(y[pots].size)
    n_rhs = model.concatenated_rhs.shape[0]
    rhs_pb = model.concatenated_rhs.evaluate(0, y).ravel() * scale[:n_rhs]
    alg_pb = model.concatenated_algebraic.evaluate(0, y).ravel()
    phys = reference + scale * y

    grid = Grid(load_parameter_set("Chen2020"), MeshSizes())
    u = np.zeros(grid.size)
    v = grid.split(u)
    v["cs_n"].ravel()[:] = phys[where["Negative particle concentration [mol.m-3]"]]
    v["cs_p"].ravel()[:] = phys[where["Positive particle concentration [mol.m-3]"]]
    v["ce"][:] = phys[ce] / grid.eps
    v["phis_n"][:] = phys[where["Negative electrode potential [V]"]]
    v["phis_p"][:] = phys[where["Positive electrode potential [V]"]]
    v["phie"][:] = phys[where["Electrolyte potential [V]"]]
    v["I"][:], v["T"][:] = 5.0, 298.15
    f, _ = residual_ref.rhs(grid, u, 0, 5.0)
    fv = grid.split(f)
    L2 = grid.edges[-1] ** 2

    def rel(ours, theirs):
        return np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))

    ws = where["Negative particle concentration [mol.m-3]"]
    assert rel(fv["cs_n"].ravel(), rhs_pb[ws]) < 1e-5  # OCP tables (20001 points) vs formulas
    assert rel(fv["cs_p"].ravel(), rhs_pb[where["Positive particle concentration [mol.m-3]"]]) < 1e-5
    assert rel(fv["ce"] * grid.eps, rhs_pb[ce]) < 1e-6
    n_s = grid.nx_n + grid.nx_p
    assert rel(np.r_[fv["phis_n"], fv["phis_p"]] * L2, alg_pb[:n_s]) < 1e-6
    assert rel(fv["phie"] * L2, alg_pb[n_s:n_s + grid.nx]) < 1e-6


@pytest.mark.parametrize("c_rate,thermal", [(0.5, False), (1.0, False), (2.0, False), (1.0, True)])
def test_discharge_matches_pybamm(c_rate, thermal):
    res = simulate(experiment=[{"mode": "current", "c_rate": c_rate}], thermal=thermal, output_dt=10.0)
    peer = run_pybamm(c_rate, thermal=thermal, output_dt=10.0)
    cmp = compare(res["time"], res["voltage"], res["discharge_capacity"], peer,
                  res["temperature"] if thermal else None)
    assert cmp["n_compared"] > 100
    assert cmp["rms_mv"] <= 1.0
    assert cmp["capacity_rel_diff"] <= 2e-3
    if thermal:
        assert cmp["temperature_diff_K"] <= 0.1
        assert res["max_temperature"] > 305.0  # the comparison is not trivially isothermal
