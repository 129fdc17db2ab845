"""``bda-hpc microstructure``: the stage, and ``microstructure tortuosity`` for a given image."""
from __future__ import annotations


def register(sub, common) -> None:
    from ..cli import add_stage_options

    p = sub.add_parser(
        "microstructure", parents=[common], help="3D electrode structure -> tortuosity, Bruggeman exponent",
        description="Generate (or read) a 3D electrode, solve steady conduction through a phase along x, y "
                    "and z with voxel finite elements on MPI ranks, fit a Bruggeman exponent over a porosity "
                    "series and write electrode.h5, XDMF fields and PNG slices. Options under "
                    "[microstructure] in --config; PETSc options with the prefix fem_ go in "
                    "the environment, e.g. PETSC_OPTIONS='-fem_ksp_monitor -fem_pc_type hypre'.")
    add_stage_options(p, default_out="out/microstructure")
    p.set_defaults(handler=run_stage_command)
    actions = p.add_subparsers(dest="microstructure_action", metavar="ACTION")
    t = actions.add_parser(
        "tortuosity", parents=[common], help="tortuosity factors of one phase of a segmented image",
        description="Tortuosity factors tau_x, tau_y, tau_z (x, y, z = array axes 0, 1, 2) of one phase "
                    "of a segmented voxel image; an axis without a percolating path gives Infinity.")
    t.add_argument("--image", required=True, metavar="FILE",
                   help=".npy, .npz, .h5/.hdf5, multi-page .tif, or a directory of .tif slices")
    t.add_argument("--dataset", help="HDF5 dataset or .npz member holding the image")
    t.add_argument("--phase", required=True, help="label of the conducting phase (integer, or pore/active/cbd)")
    t.add_argument("--json", required=True, metavar="OUT.json", help="where to write the result")
    t.add_argument("--scheme", choices=("fv", "q1"), default="fv",
                   help="fv: face fluxes (as taufactor); q1: trilinear finite elements (default: fv)")
    t.add_argument("--voxel-size", type=float, default=1.0, help="voxel size (any unit; tau does not depend on it)")
    t.set_defaults(handler=run_tortuosity_command)


def run_stage_command(args) -> int:
    from ..parallel import world
    from .stage import run_stage

    run_stage(world(), args.config, args.out_dir)
    return 0


def run_tortuosity_command(args) -> int:
    import json
    import logging
    import os
    from pathlib import Path

    from ..fem.transport import AXIS_NAMES, tortuosity
    from ..parallel import world
    from .images import phase_label
    from .stage import broadcast_image

    comm = world()
    image = broadcast_image(comm, args.image, args.dataset)
    mask = image == phase_label(image, args.phase, args.image)
    out: dict = {"image": str(args.image), "phase": args.phase, "scheme": args.scheme, "shape": list(image.shape)}
    for axis in range(3):
        t = tortuosity(comm, mask, axis, (args.voxel_size,) * 3, scheme=args.scheme)
        name = AXIS_NAMES[axis]
        out["porosity"] = t.porosity
        out[f"tortuosity_{name}"] = t.tortuosity
        out[f"effective_conductivity_ratio_{name}"] = t.conductivity_ratio
        out[f"iterations_{name}"] = t.result.iterations
        if not t.result.percolates:
            logging.getLogger("bda_hpc.microstructure").warning(
                "phase %s has no percolating path along %s: tortuosity is infinite", args.phase, name)
    if comm.rank == 0:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        os.replace(tmp, path)
        print(json.dumps({k: out[k] for k in ("porosity", "tortuosity_x", "tortuosity_y", "tortuosity_z")}))
    return 0
