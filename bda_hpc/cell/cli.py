"""``bda-hpc cell``: the DFN stage; ``cell sweep`` (many cells over MPI ranks) and
``cell import-pybamm NAME`` (convert a PyBaMM parameter set to our JSON format)."""

from __future__ import annotations


def register(sub, common) -> None:
    from ..cli import add_stage_options

    p = sub.add_parser(
        "cell", parents=[common], help="DFN (P2D) cell model: experiment -> cell.h5",
        description="Doyle-Fuller-Newman cell model (finite volumes in x and r, compiled residual, PETSc TS "
                    "with voltage cut-off events) with optional lumped thermal model. Reads [cell] from "
                    "--config (parameter set, experiment steps, mesh, tolerances) and an electrode.h5 from the "
                    "microstructure stage via --params; writes cell.h5 and cell.png. PETSc options take the "
                    "prefix dfn_, e.g. PETSC_OPTIONS='-dfn_ts_monitor'.")
    add_stage_options(p, default_out="out/cell")
    p.set_defaults(handler=run_stage_command)
    actions = p.add_subparsers(dest="cell_action", metavar="ACTION")
    s = actions.add_parser(
        "sweep", parents=[common], help="many cells (a parameter grid) distributed over MPI ranks",
        description="Simulate every combination of the [cell.sweep] parameter lists (or --n-cells random "
                    "thickness/porosity designs) with the [cell] experiment; each rank runs its own cells "
                    "and the results land in one HDF5 table. Resumes: finished cells found in --out are kept.")
    s.add_argument("--out", required=True, metavar="TABLE.h5", help="output table")
    s.add_argument("--n-cells", type=int, default=None, help="random designs instead of [cell.sweep]")
    s.set_defaults(handler=run_sweep_command)
    i = actions.add_parser(
        "import-pybamm", parents=[common], help="convert a PyBaMM parameter set into a bda_hpc JSON set",
        description="Evaluate a PyBaMM parameter set (needs pybamm installed) and write it in the bda_hpc "
                    "JSON format: scalars copied, OCPs and electrolyte D_e(c), kappa(c) tabulated, exchange "
                    "current densities checked to be m_ref*sqrt(c_e c_s (c_max - c_s)) with Arrhenius factors.")
    i.add_argument("name", help="PyBaMM parameter set name, e.g. Marquis2019")
    i.add_argument("--output", metavar="SET.json", help="where to write (default: ./<name>.json)")
    i.set_defaults(handler=run_import_command)


def run_stage_command(args) -> int:
    from ..parallel import world
    from .stage import run_stage

    run_stage(world(), args.config, args.out_dir, args.params)
    return 0


def run_sweep_command(args) -> int:
    from ..parallel import world
    from .sweep import run_sweep

    run_sweep(world(), args.config, args.out, n_cells=args.n_cells)
    return 0


def run_import_command(args) -> int:
    from pathlib import Path

    from .pybamm_import import import_pybamm

    out = Path(args.output or f"{args.name.lower()}.json")
    import_pybamm(args.name, out)
    print(f"wrote {out}")
    return 0
