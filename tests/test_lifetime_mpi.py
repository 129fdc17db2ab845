"""Lifetime stage under MPI: cross-validation spread over ranks gives the serial answer on every rank."""
import numpy as np
import pytest
from conftest import shared_data

from bda_hpc.lifetime.cyclelife import CycleLifeConfig, ModelSpec, fit_cycle_life
from bda_hpc.lifetime.search import map_over_ranks


@pytest.mark.mpi
def test_map_over_ranks_keeps_order_on_every_rank(comm):
    items = list(range(7))
    values = [v for v, _ in map_over_ranks(comm, items, lambda v: (v * v, comm.rank))]
    assert values == [v * v for v in items]
    owners = {r for _, r in map_over_ranks(comm, items, lambda v: (v, comm.rank))}
    assert owners == set(range(comm.size))     # the work really was shared


@pytest.mark.mpi
def test_cv_search_over_ranks_matches_serial(comm):
    root = shared_data("ageing", "severson_attia")
    cfg = CycleLifeConfig(cv_folds=3, models=[ModelSpec("en", "elastic_net", grid={"alpha": [1e-3, 1e-1]})])
    parallel = fit_cycle_life(cfg, root, seed=0, comm=comm)
    serial = fit_cycle_life(cfg, root, seed=0, comm=None)
    for p, s in zip(parallel, serial):
        assert [c["cv_rmse"] for c in p.candidates] == pytest.approx([c["cv_rmse"] for c in s.candidates], rel=1e-12)
        assert p.params == s.params
    gathered = comm.allgather(parallel[-1].cv_rmse)
    assert np.allclose(gathered, gathered[0])


@pytest.mark.mpi
def test_selection_protocol_over_ranks_matches_serial(comm):
    from bda_hpc.lifetime.protocol import SelectionConfig, select

    root = shared_data("ageing", "severson_attia")
    cfg = SelectionConfig(enabled=True, folds=3, repeats=1, feature_sets=["variance", "discharge"],
                          families=["linear", "pls"], targets=["log10"])
    parallel, serial = select(cfg, root, seed=0, comm=comm), select(cfg, root, seed=0, comm=None)
    assert [r["cv_rmse"] for r in parallel.table] == pytest.approx([r["cv_rmse"] for r in serial.table], rel=1e-12)
    assert parallel.chosen == serial.chosen and len(set(comm.allgather(parallel.chosen.name))) == 1
