"""`bda-hpc md`: Li molecular dynamics in LAMMPS with the bda/nnp pair-style plugin."""
from __future__ import annotations

TASKS = ("run", "diffusion", "surface", "deposition")


def register(sub, common) -> None:
    from bda_hpc.cli import add_stage_options

    p = sub.add_parser(
        "md", parents=[common], help="Li MD in LAMMPS with the bda NNP (plugin): runs, diffusion, deposition",
        description="Runs the [md] tasks of --config in LAMMPS with pair_style bda/nnp (build it first with "
                    "`make lammps-plugin`): a bulk NVE/NVT/NPT run with dumps and restart files, self-diffusion "
                    "(MSD, Arrhenius), adatom diffusion on (100)/(110), deposition with roughness. Interrupted "
                    "tasks resume from their restart files. Writes results.json, PNG plots and li_metal.h5 "
                    "(upstream li_metal.h5 given with --params is carried over). Start it as one process: "
                    "LAMMPS gets its own MPI launcher with [md] nprocs ranks.")
    p.add_argument("--task", action="append", choices=TASKS, metavar="TASK",
                   help=f"run only this task (repeatable; {', '.join(TASKS)}); default: the enabled ones")
    p.add_argument("--model", metavar="M.h5|M.nnp", help="NNP model (overrides [md] model)")
    p.add_argument("--plugin", metavar="bda_nnp.so", help="plugin file (overrides [md] plugin)")
    p.add_argument("--nprocs", type=int, metavar="N", help="LAMMPS ranks (overrides [md] nprocs)")
    add_stage_options(p, default_out="out/md")
    p.set_defaults(handler=_handler)


def _handler(args) -> int:
    from .stage import run_stage

    return run_stage(args)
