"""Many cells over MPI ranks: each rank simulates its own designs; rank 0 writes one HDF5 table.

Designs: the Cartesian product of the ``[cell.sweep]`` lists (keys ``section.key`` of the parameter
set, plus ``c_rate`` which replaces the C-rate of every C-rate step), or ``n_cells`` random
designs (porosities of both electrodes and the C-rate; seed 0). Every rank appends its finished
cells to ``<table>.parts/rank<r>.npz`` every few cells; a rerun (any rank count) skips the cells
found there, so a killed sweep resumes. A cell that fails (solver or input error) gets NaN
results and its message in the table instead of stopping the sweep.

``python -m bda_hpc.cell.sweep --n-cells N --out T.h5`` is the entry point the benchmark uses.
"""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path

import numpy as np

from bda_hpc.errors import BdaError

log = logging.getLogger("bda_hpc.cell")
SUMMARY = ("discharge_capacity", "energy", "max_temperature", "anode_overpotential_min",
           "anode_current_density", "final_voltage", "duration")
# porosity + active fraction must not exceed 1 (Chen2020 has exactly 1), so porosities only go down;
# lower porosities at > 1.5C deplete the electrolyte (a clean error, but no benchmark)
RANDOM_RANGES = {"negative.porosity": (0.2, 0.25), "positive.porosity": (0.28, 0.335), "c_rate": (0.5, 1.5)}
CHECKPOINT_EVERY = 10


def random_designs(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    cols = {k: rng.uniform(lo, hi, n) for k, (lo, hi) in RANDOM_RANGES.items()}
    return [{k: float(v[i]) for k, v in cols.items()} for i in range(n)]


def grid_designs(spec: dict) -> list[dict]:
    keys = sorted(spec)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(list(spec[k]) for k in keys))]


def experiment_for(design: dict, steps) -> list:
    """The configured steps with the design's C-rate put into every C-rate step."""
    from dataclasses import replace

    if "c_rate" not in design:
        return list(steps)
    return [replace(s, c_rate=design["c_rate"]) if s.c_rate is not None else s for s in steps]


def designs_key(designs: list[dict]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(designs, sort_keys=True).encode()).hexdigest()


def _load_parts(parts_dir: Path, key: str) -> dict[int, tuple]:
    """Finished cells from earlier (possibly killed) runs of the same design list."""
    done = {}
    for f in sorted(parts_dir.glob("rank*.npz")):
        with np.load(f, allow_pickle=False) as z:
            if str(z["designs"]) != key:
                continue
            for i, row, msg in zip(z["index"], z["values"], z["message"]):
                done[int(i)] = (row, str(msg))
    return done


def _save_part(parts_dir: Path, rank: int, rows: dict[int, tuple], key: str) -> None:
    tmp = parts_dir / f".rank{rank}.tmp.npz"
    idx = np.array(sorted(rows), dtype=np.int64)
    np.savez(tmp, designs=key, index=idx, values=np.array([rows[i][0] for i in idx]).reshape(len(idx), len(SUMMARY)),
             message=np.array([rows[i][1] for i in idx], dtype=str))
    tmp.replace(parts_dir / f"rank{rank}.npz")


def sweep_cells(comm, cfg, designs: list[dict], out: Path, parameter_set) -> Path:
    """Run the designs over ``comm`` (strided: rank r takes r, r+size, ...) and write the table."""
    from bda_hpc.io.params import Parameter, write_params

    from .params import load_parameter_set
    from .simulate import CellSimulation

    parts = Path(str(out) + ".parts")
    if comm.rank == 0:
        parts.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    key = designs_key(designs)
    done = _load_parts(parts, key)
    mine = {i: done[i] for i in range(comm.rank, len(designs), comm.size) if i in done}
    todo = [i for i in range(comm.rank, len(designs), comm.size) if i not in done]
    if comm.rank == 0 and done:
        log.info("sweep: resuming, %d of %d cells already done", len(done), len(designs))
    t0 = time.perf_counter()
    pattern = None
    for n, i in enumerate(todo):
        overrides = {k: v for k, v in designs[i].items() if k != "c_rate"}
        try:
            sim = CellSimulation(load_parameter_set(parameter_set, overrides), cfg.mesh, thermal=cfg.thermal,
                                 rtol=cfg.rtol, atol=cfg.atol, petsc_options=cfg.petsc, pattern=pattern)
            pattern = sim.solver.pattern
            try:
                res = sim.run(experiment_for(designs[i], cfg.experiment), output_dt=cfg.output_dt)
            finally:
                sim.destroy()
            mine[i] = (np.array([res[k] for k in SUMMARY]), "")
        except BdaError as exc:
            mine[i] = (np.full(len(SUMMARY), np.nan), str(exc))
        if (n + 1) % CHECKPOINT_EVERY == 0 or n + 1 == len(todo):
            _save_part(parts, comm.rank, mine, key)
            if comm.rank == 0:
                log.info("sweep: rank 0 finished %d/%d of its cells (%.1f s)", n + 1, len(todo),
                         time.perf_counter() - t0)
    gathered = comm.gather(mine, root=0)
    path = out
    if comm.rank == 0:
        rows = {}
        for part in gathered:
            rows.update(part)
        values = np.array([rows[i][0] for i in range(len(designs))])
        messages = np.array([rows[i][1] for i in range(len(designs))], dtype="S")
        units = dict(zip(SUMMARY, ("A*h", "W*h", "K", "V", "A/m^2", "V", "s")))
        table = {k: (values[:, j], units[k]) for j, k in enumerate(SUMMARY)}
        keys = sorted({k for d in designs for k in d})
        design_cols = {k: np.array([d.get(k, np.nan) for d in designs]) for k in keys}
        n_failed = int(np.sum(messages != b""))
        parameters = {"n_cells": Parameter(len(designs), "1", "cells simulated"),
                      "n_failed": Parameter(n_failed, "1", "cells whose simulation failed (see results/message)")}
        write_params(out, "cell_sweep", parameters,
                     results={"design": design_cols, "table": table, "message": messages})
        log.info("sweep: wrote %s (%d cells, %d failed)", out, len(designs), n_failed)
    comm.Barrier()
    return path


def run_sweep(comm, config_path, out, n_cells: int | None = None) -> Path:
    from bda_hpc.config import load_section

    from .stage import CellConfig

    cfg = load_section(config_path, "cell", CellConfig)
    if n_cells is not None:
        designs = random_designs(n_cells)
    elif cfg.sweep:
        designs = grid_designs(cfg.sweep)
    else:
        raise BdaError(f"{config_path}: cell sweep needs a [cell.sweep] table of lists or --n-cells", collective=True)
    return sweep_cells(comm, cfg, designs, Path(out), cfg.parameter_set)


def pybamm_sweep(n_cells: int, nprocs: int, output_dt: float = 10.0) -> tuple[float, np.ndarray]:
    """The same random designs with PyBaMM: one built model, porosities and current as inputs,
    IDAKLU solving the list of inputs on ``nprocs`` threads. Returns (wall s, capacities A h)."""
    import pybamm

    designs = random_designs(n_cells)
    t0 = time.perf_counter()
    pv = pybamm.ParameterValues("Chen2020")
    nominal = pv["Nominal cell capacity [A.h]"]
    pv.update({"Negative electrode porosity": "[input]", "Positive electrode porosity": "[input]",
               "Current function [A]": "[input]"})
    solver = pybamm.IDAKLUSolver(rtol=1e-6, atol=1e-6, options={"num_threads": nprocs})
    sim = pybamm.Simulation(pybamm.lithium_ion.DFN(), parameter_values=pv, solver=solver)
    inputs = [{"Negative electrode porosity": d["negative.porosity"],
               "Positive electrode porosity": d["positive.porosity"],
               "Current function [A]": d["c_rate"] * nominal} for d in designs]
    t_end = 1.2 * 3600.0 / min(d["c_rate"] for d in designs)
    sols = sim.solve([0.0, t_end], inputs=inputs, t_interp=np.arange(0.0, t_end, output_dt))
    sols = sols if isinstance(sols, list) else [sols]
    caps = np.array([s["Discharge capacity [A.h]"].entries[-1] for s in sols])
    return time.perf_counter() - t0, caps


def main(argv=None) -> int:
    import argparse

    import petsc4py

    petsc4py.init([])
    from mpi4py import MPI

    ap = argparse.ArgumentParser(description="random-design DFN sweep over MPI ranks (benchmark entry point)")
    ap.add_argument("--n-cells", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default=None)
    args = ap.parse_args(argv)
    run_sweep(MPI.COMM_WORLD, args.config, args.out, n_cells=args.n_cells)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
