"""``bda-hpc phasefield``: the Li dendrite (or PFHub 1) phase-field stage."""
from __future__ import annotations


def register(sub, common) -> None:
    from bda_hpc.cli import add_stage_options

    p = sub.add_parser(
        "phasefield", parents=[common],
        help="phase-field stage: Li electrodeposition (dendrites) or Cahn-Hilliard on a PETSc DMDA",
        description="Integrate the [phasefield] model of --config with PETSc TS (options prefix pf_, e.g. "
                    "-pf_ts_monitor -pf_snes_monitor -pf_ts_rtol 1e-4; they win over the config). Writes fields "
                    "(HDF5 + XDMF), a time series (CSV + HDF5), PNG snapshots, checkpoints and, for the Li "
                    "model, dendrite.h5. Upstream inputs: li_metal.h5 (surface energies, self diffusion) and cell.h5 "
                    "(anode overpotential or current density).")
    add_stage_options(p, default_out="out/phasefield")
    p.add_argument("--restart", action="store_true", help="continue from OUT_DIR/checkpoint.h5")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    from bda_hpc.parallel import world

    from .stage import check_restart_possible, run_stage

    comm = world()
    if args.restart:
        check_restart_possible(args.out_dir)
    run_stage(comm, args.config, args.out_dir, args.params, restart=args.restart)
    return 0
