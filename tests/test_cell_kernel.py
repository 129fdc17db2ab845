"""DFN kernel: compiled residual vs its NumPy twin, coloured-FD Jacobian vs a dense derivative
of the twin, parameter-set validation."""
import json

import numpy as np
import pytest

from bda_hpc.cell import residual_ref as ref
from bda_hpc.cell.grid import Grid, MeshSizes
from bda_hpc.cell.kernel import JacobianPattern, fd_steps, make_kernel
from bda_hpc.cell.params import DATA_DIR, ParameterSet, load_parameter_set, tabulate
from bda_hpc.errors import InputError


@pytest.fixture(scope="module")
def grid():
    return Grid(load_parameter_set("Chen2020"), MeshSizes(4, 3, 5, 6, 7))


def perturbed_state(grid, seed=0):
    rng = np.random.default_rng(seed)
    u = grid.initial_state()
    u *= 1 + 1e-2 * rng.standard_normal(u.size)
    u[grid.slices["phie"]] += 1e-2 * rng.standard_normal(grid.nx)
    u[grid.slices["I"]] = 3.0
    u[grid.slices["T"]] = 305.0
    return u, rng.standard_normal(u.size)


@pytest.mark.parametrize("thermal", [False, True])
@pytest.mark.parametrize("control,setpoint", [(0, 5.0), (1, 3.9), (2, 12.0)])
def test_kernel_residual_matches_numpy_twin(grid, thermal, control, setpoint):
    kernel = make_kernel(grid, thermal)
    kernel.control, kernel.setpoint = control, setpoint
    u, udot = perturbed_state(grid)
    out = np.zeros(u.size)
    kernel.residual(u, udot, out)
    expected = ref.residual(grid, u, udot, control, setpoint, thermal)
    assert np.max(np.abs(out - expected)) <= 1e-12 * np.max(np.abs(expected))


def test_coloured_jacobian_matches_dense_derivative_of_twin(grid):
    kernel = make_kernel(grid, thermal=True)
    kernel.control, kernel.setpoint = 1, 3.9  # voltage control exercises the I row's coupling
    u, udot = perturbed_state(grid, seed=3)
    pattern = JacobianPattern(grid, kernel, u)
    assert pattern.n_colours < grid.size / 5  # colouring actually groups columns
    shift = 7.0
    values = pattern.assemble(grid, kernel, u, udot, shift)
    J = np.zeros((grid.size, grid.size))
    for r in range(grid.size):
        J[r, pattern.indices[pattern.indptr[r]:pattern.indptr[r + 1]]] = values[pattern.indptr[r]:pattern.indptr[r + 1]]
    h = 1e-6 * grid.scales()
    dense = np.zeros_like(J)
    for c in range(grid.size):
        e = np.zeros(grid.size)
        e[c] = h[c]
        dense[:, c] = (ref.residual(grid, u + e, udot + shift * e, 1, 3.9, True)
                       - ref.residual(grid, u - e, udot - shift * e, 1, 3.9, True)) / (2 * h[c])
    t = grid.slices["T"].start
    dense[t, :t] = 0.0  # documented: the dense temperature row keeps its diagonal only
    scale = np.abs(dense).max(axis=1, keepdims=True) + 1e-300
    assert np.max(np.abs(J - dense) / scale) < 1e-5


def test_fd_steps_scale_with_variables(grid):
    u = grid.initial_state()
    steps = fd_steps(grid, u)
    assert np.all(steps > 0)
    assert steps[grid.slices["cs_n"]].min() > 1e3 * steps[grid.slices["phie"]].max()


def chen():
    return json.loads((DATA_DIR / "chen2020.json").read_text())


@pytest.mark.parametrize("section,key,value,message", [
    ("negative", "thickness", -1e-5, "negative.thickness: must be positive"),
    ("separator", "porosity", 1.2, "separator.porosity: must lie in (0, 1)"),
    ("positive", "porosity", 0.0, "positive.porosity: must lie in (0, 1)"),
    ("negative", "c_init", 4e4, "negative.c_init: must lie in (0, c_max"),
])
def test_bad_parameters_are_named(section, key, value, message):
    values = chen()
    values[section][key] = value
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ParameterSet(values, "test")


def test_bad_override_and_expression_are_named():
    with pytest.raises(InputError, match="no such parameter"):
        load_parameter_set("Chen2020", {"negative.thicknes": 1e-5})
    with pytest.raises(InputError, match="unknown name 'y'"):
        tabulate({"expr": "2*y", "range": [0, 1]}, "negative.ocp")
    with pytest.raises(InputError, match="not finite"):
        tabulate({"expr": "log(x)", "range": [0, 1]}, "negative.ocp")
    with pytest.raises(InputError, match="Attribute"):
        tabulate({"expr": "x.__class__", "range": [0, 1]}, "negative.ocp")


def test_tables_reproduce_expressions():
    ps = load_parameter_set("Chen2020")
    x = np.linspace(0.01, 0.99, 777)
    u_n = (1.9793 * np.exp(-39.3631 * x) + 0.2482 - 0.0909 * np.tanh(29.8538 * (x - 0.1234))
           - 0.04478 * np.tanh(14.9159 * (x - 0.2769)) - 0.0205 * np.tanh(30.4444 * (x - 0.6103)))
    assert np.max(np.abs(ps.tables["negative.ocp"](x) - u_n)) < 2e-6  # volts
    table = tabulate({"table": [[0, 1, 3], [1, 3, 1]]}, "t")
    assert table(2.0) == pytest.approx(2.0)
