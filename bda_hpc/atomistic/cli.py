"""`bda-hpc mlff ...`: train, evaluate, export and the properties stage of the Li force field."""

from __future__ import annotations


def register(sub, common) -> None:
    from bda_hpc.cli import add_stage_options

    p = sub.add_parser(
        "mlff",
        help="Li neural-network force field: train, evaluate, export, properties",
        description="Behler-Parrinello neural-network potential for Li (issue 4).",
    )
    msub = p.add_subparsers(dest="mlff_command", metavar="ACTION")
    msub.required = True

    t = msub.add_parser(
        "train",
        parents=[common],
        help="train a model on DFT energies and forces",
        description="Train the NNP in torch ([mlff.descriptors], [mlff.training] of --config). "
        "Writes the HDF5 model, a learning-curve PNG and a checkpoint for --resume.",
    )
    t.add_argument("--out-dir", default="out/mlff", metavar="DIR", help="output directory (default: out/mlff)")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out-dir")
    t.set_defaults(handler=_lazy("train"))

    e = msub.add_parser(
        "evaluate",
        parents=[common],
        help="energy/force errors of a model on a DFT data set",
        description="MAE and RMSE of energies (meV/atom) and forces (eV/Å), overall and per group; "
        "parallel over structures under mpiexec.",
    )
    e.add_argument("--model", metavar="M.h5", help="model file (default: the shipped Li model)")
    e.add_argument("--data", required=True, metavar="FILE.json", help="data set (Materials Virtual Lab JSON)")
    e.add_argument("--json", metavar="OUT.json", help="write the metrics here")
    e.add_argument("--plot", metavar="OUT.png", help="parity plot of energies and forces")
    e.set_defaults(handler=_lazy("evaluate"))

    x = msub.add_parser(
        "export",
        parents=[common],
        help="write the text model the C core and LAMMPS read",
        description="Convert an HDF5 model to the text format of csrc/nnp/README.md.",
    )
    x.add_argument("--model", metavar="M.h5", help="model file (default: the shipped Li model)")
    x.add_argument("--out", required=True, metavar="M.nnp", help="output text file")
    x.set_defaults(handler=_lazy("export"))

    pr = msub.add_parser(
        "properties",
        parents=[common],
        help="Li metal properties -> li_metal.h5 (atomistic stage)",
        description="Lattice constant, phase energies, elastic constants, vacancy formation and "
        "migration (NEB), surface energies, self-diffusion (MD, Arrhenius) with the "
        "model; writes li_metal.h5 ([mlff.properties] of --config).",
    )
    pr.add_argument("--model", metavar="M.h5", help="model file (default: the shipped Li model)")
    pr.add_argument("--quick", action="store_true", help="small cells and short MD (minutes; for tests and demos)")
    add_stage_options(pr, default_out="out/atomistic")
    pr.set_defaults(handler=_lazy("properties"))


def _lazy(name: str):
    def handler(args) -> int:
        from . import commands

        return getattr(commands, name)(args)

    return handler
