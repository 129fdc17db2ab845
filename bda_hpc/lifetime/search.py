"""Hyper-parameter grids as lists of independent runs.

A grid ``{"alpha": [0.1, 1], "l1_ratio": [0.5]}`` expands to one parameter set
per combination. Inside one stage run the candidates are spread over the MPI
ranks of ``comm`` (:func:`map_over_ranks`); across runs, each candidate is
``bda-hpc lifetime --config X --set model=NAME --set params.alpha=0.1`` — one
job of a driver sweep or a SLURM array task — and the runs' JSON outputs are
compared by their cross-validation score, never by a test score.
"""
from __future__ import annotations

import itertools
import tomllib
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


def parse_override(text: str) -> tuple[list[str], object]:
    """``"a.b=0.1"`` -> (["a", "b"], 0.1); the value is read as TOML, else kept as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set model=elastic_net")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(table: dict, overrides: Sequence[str]) -> dict:
    """A copy of ``table`` with each ``KEY=VALUE`` (dotted keys for nested tables) set."""
    import copy

    out = copy.deepcopy(table)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is not a table")
        node[path[-1]] = value
    return out
