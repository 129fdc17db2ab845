"""Hyper-parameter grids as lists of independent runs.

A grid ``{"alpha": [0.1, 1], "l1_ratio": [0.5]}`` expands to one parameter set
per combination. Inside one stage run the candidates are spread over the MPI
ranks of ``comm`` (:func:`map_over_ranks`); across runs, each candidate is
``bda-hpc lifetime --config X --set lifetime.model=NAME --set lifetime.params.alpha=0.1``
(the ``--set`` convention of :mod:`bda_hpc.workflow.overrides`) — one case of
a driver sweep, locally or as a SLURM array task — and the runs are compared
by the ``cycle_life_cv_rmse`` they write, never by a test score.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from ..errors import ConfigError
from ..parallel import split_evenly


def expand_grid(grid: dict[str, Sequence]) -> list[dict]:
    """Every combination of the grid's values, in a fixed order (keys sorted)."""
    keys = sorted(grid)
    for key in keys:
        if not isinstance(grid[key], (list, tuple)) or not grid[key]:
            raise ConfigError(f"grid.{key}: expected a non-empty list of values, got {grid[key]!r}")
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def map_over_ranks(comm, items: Sequence, fn: Callable) -> list:
    """``[fn(item) for item in items]`` with the items split over the ranks; every rank gets all results."""
    if comm is None or comm.size == 1:
        return [fn(item) for item in items]
    mine = split_evenly(len(items), comm.size, comm.rank)
    local = [(i, fn(items[i])) for i in mine]
    results = [None] * len(items)
    for block in comm.allgather(local):
        for i, value in block:
            results[i] = value
    return results
