"""Many-cell sweep over MPI ranks: one table, same numbers as single runs, resume from parts."""
import numpy as np
import pytest

from bda_hpc.cell.grid import MeshSizes
from bda_hpc.cell.simulate import simulate
from bda_hpc.cell.sweep import grid_designs, run_sweep
from bda_hpc.io.params import read_params, read_results

CONFIG = """
[cell]
output_dt = 60.0
[cell.mesh]
x_n = 6
x_s = 3
x_p = 6
r_n = 6
r_p = 6
[cell.sweep]
"negative.thickness" = [7.0e-5, 8.52e-5]
c_rate = [0.5, 1.0, 1.5]
"""


@pytest.mark.mpi
def test_sweep_table_matches_single_cells_and_resumes(comm, shared_tmp):
    cfg = shared_tmp / "sweep.toml"
    if comm.rank == 0:
        cfg.write_text(CONFIG)
    comm.Barrier()
    out = shared_tmp / "sweep.h5"
    run_sweep(comm, cfg, out)
    ps = read_params(out, comm)
    assert ps.require("n_cells") == 6 and ps.require("n_failed") == 0
    caps = read_results(out, "table/discharge_capacity")
    thick = read_results(out, "design/negative.thickness")
    rates = read_results(out, "design/c_rate")
    designs = grid_designs({"negative.thickness": [7.0e-5, 8.52e-5], "c_rate": [0.5, 1.0, 1.5]})
    assert np.allclose(thick, [d["negative.thickness"] for d in designs])
    # every rank checks the cells it did not compute itself against a single run
    mine = range(comm.rank, 6, comm.size)
    for i in [i for i in range(6) if i not in mine][:1] or [0]:
        single = simulate({"negative.thickness": thick[i]}, [{"mode": "current", "c_rate": rates[i]}],
                          mesh=MeshSizes(6, 3, 6, 6, 6), output_dt=60.0)
        assert caps[i] == pytest.approx(single["discharge_capacity"], rel=1e-9)
    # thinner anode -> less capacity at every rate (the table is not a copy of one cell)
    for rate in (0.5, 1.0, 1.5):
        thin, thick_cell = (caps[(rates == rate) & np.isclose(thick, t)][0] for t in (7.0e-5, 8.52e-5))
        assert thin < thick_cell - 0.3
    # resume: drop the table, keep the parts; a rerun rebuilds it without recomputing
    comm.Barrier()
    if comm.rank == 0:
        out.unlink()
    comm.Barrier()
    run_sweep(comm, cfg, out)
    assert np.array_equal(read_results(out, "table/discharge_capacity"), caps)
