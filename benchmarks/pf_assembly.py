"""Cost of handing a phase-field Jacobian to PETSc: COO assembly against setValuesLocalCSR, JSON out.

The Li model's Jacobian is computed by a Numba kernel into a fixed CSR value
array (bda_hpc/phasefield/sparsity.py); this times what follows, per Jacobian,
on the same values in the same process: ``MatSetValuesCOO`` into the exact-pattern
matrix the solver uses, and ``zeroEntries`` + ``setValuesLocalCSR`` + assembly into the
DMDA's matrix (what the solver did before session 7, there on the exact pattern: 0.44 s per
Jacobian at 1024² on 1 rank, the same as here). The kernel itself is timed
too, for scale. Best of --repeat calls each; the matrices must come out equal.

    python benchmarks/pf_assembly.py [--quick] [--n 1024] [--json PATH]
    mpiexec -n 2 python benchmarks/pf_assembly.py --n 1024     # per rank, in parallel
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _best(comm, f, repeat: int, setup=lambda: None) -> float:
    """Shortest of ``repeat`` calls of f (slowest rank), each after an untimed setup()."""
    best = float("inf")
    for _ in range(repeat):
        setup()
        comm.Barrier()
        t0 = time.perf_counter()
        f()
        comm.Barrier()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="256² (seconds)")
    ap.add_argument("--n", type=int, default=1024, help="2D cells per side (default 1024)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default="benchmarks/results/pf_assembly.json")
    args = ap.parse_args()

    import numpy as np
    import petsc4py

    petsc4py.init(sys.argv[:1])
    from mpi4py import MPI
    from petsc4py import PETSc

    from bda_hpc.phasefield.grid import Grid
    from bda_hpc.phasefield.li_deposition import LiDeposition
    from bda_hpc.phasefield.li_params import LiPhysical
    from bda_hpc.phasefield.preconditioners import DEFAULT_LI_PRECONDITIONER, li_solver_options
    from bda_hpc.phasefield.solver import PhaseFieldSolver

    comm = MPI.COMM_WORLD
    n = 256 if args.quick else args.n
    model = LiDeposition.from_physical(LiPhysical(), 2, front=n / 8, nuclei=[(n / 2, 4.0)])
    grid = Grid(comm, (n, n), (1.0, 1.0), 3, faces=model.faces(), field_names=model.fields)
    # the Krylov preconditioner: the solver's own matrix is then the exact-pattern (COO) one
    solver = PhaseFieldSolver(comm, grid, model, options=li_solver_options(DEFAULT_LI_PRECONDITIONER))
    solver.set_state(model.initial_state(grid))
    sp, x = solver.sparsity, solver.u
    xdot = x.duplicate()
    xdot.set(0.0)

    def kernel():
        solver.jacobian_values(x, xdot, 1000.0)

    kernel()  # compiles
    t0 = time.perf_counter()
    coo = sp.create_matrix(grid)
    coo_setup = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    # the DMDA's matrix (the LU path's): set_jacobian takes setValuesLocalCSR there. (A duplicate of the COO
    # matrix would have the exact pattern, but in parallel PETSc 3.18 refuses its off-process columns.)
    csr = grid.da.createMatrix()
    times = {"kernel_s": _best(comm, kernel, args.repeat)}
    jacobian = sp.values.copy()
    for name, mat in (("coo_s", coo), ("csr_s", csr)):
        times[name] = _best(comm, lambda mat=mat: sp.set_jacobian(mat), args.repeat,
                            setup=lambda: np.copyto(sp.values, jacobian))  # set_jacobian scales values in place
    diff = coo.copy()
    diff.axpy(-1.0, csr, PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
    out = {"benchmark": "pf_assembly", "machine": os.uname().nodename, "ranks": comm.size, "cells": [n, n],
           "entries": comm.allreduce(sp.nnz), "coo_setup_s": coo_setup, **times,
           "csr_over_coo": times["csr_s"] / times["coo_s"], "max_abs_difference": diff.norm(PETSc.NormType.INFINITY),
           "load_avg": os.getloadavg()}
    for obj in (diff, csr, coo, xdot):
        obj.destroy()
    solver.destroy()
    grid.destroy()
    if comm.rank == 0:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
        print(f"{n}^2 on {comm.size} rank(s), {out['entries']:.3g} entries: kernel {times['kernel_s']:.3f} s, "
              f"hand-over COO {times['coo_s']:.3f} s, CSR {times['csr_s']:.3f} s ({out['csr_over_coo']:.1f}x); "
              f"COO set-up once {coo_setup:.2f} s; |COO - CSR| = {out['max_abs_difference']:.1e}; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
