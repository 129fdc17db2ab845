"""The ``bda-hpc`` command: one sub-command per stage, plus ``info``.

Stage packages register their sub-commands: any ``bda_hpc.<package>.cli``
module with a ``register(subparsers, common)`` function is picked up, so a
new stage touches no code here. Handlers take the parsed arguments and
return an exit code; heavy imports happen inside handlers so that
``bda-hpc --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .parallel import single_process_threads


def common_options() -> argparse.ArgumentParser:
    """Options every sub-command accepts."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE.toml", help="TOML configuration (one table per stage)")
    common.add_argument("--log-level", default="INFO",
                        help="DEBUG, INFO, WARNING or ERROR (rank 0; other ranks log warnings)")
    common.add_argument("--log-dir", metavar="DIR", help="also write one log file per rank into DIR")
    return common


def add_stage_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """The options every scale stage shares, so the batch driver can call them all alike.

    ``--out-dir``: where the stage writes its parameter file and other outputs.
    ``--params``: upstream parameter files (repeatable); a stage picks the ones
    it understands by their ``/meta`` stage attribute (see
    :func:`bda_hpc.io.params.select_by_stage`).
    """
    parser.add_argument("--out-dir", default=default_out, metavar="DIR",
                        help=f"output directory (default: {default_out})")
    parser.add_argument("--params", action="append", default=[], metavar="FILE.h5",
                        help="upstream parameter file (repeatable), e.g. li_metal.h5 or cell.h5")


def stage_modules():
    """Every ``cli`` module of a bda_hpc package or sub-package, found on disk without importing packages."""
    from pathlib import Path

    root = Path(__file__).resolve().parent
    for cli_file in sorted(root.glob("*/**/cli.py")):
        package_dir = cli_file.parent
        chain = [package_dir, *package_dir.parents]
        if all((d / "__init__.py").exists() for d in chain[: chain.index(root)]):
            parts = package_dir.relative_to(root).parts
            yield importlib.import_module(".".join(("bda_hpc", *parts, "cli")))


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="bda-hpc",
        description="Battery design automation on clusters: atomistic -> phase-field / microstructure -> cell.",
        epilog="Run under mpiexec for parallel stages, e.g. `mpiexec -n 4 bda-hpc phasefield --config c.toml`. "
               "Single-dash options after the sub-command go to PETSc (`-pf_snes_monitor`) and override the config.",
    )
    parser.add_argument("--version", action="version", version=f"bda_hpc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from . import info

    info.register(sub, common)
    for module in stage_modules():
        module.register(sub, common)
    return parser


def pass_to_petsc(parser: argparse.ArgumentParser, extra: list[str]) -> None:
    """Hand single-dash options (``-pf_ts_type bdf -pf_snes_monitor``) to PETSc, which then wins over
    the config; anything else unknown is an argparse error. A bare ``--`` before them is allowed."""
    extra = [a for a in extra if a != "--"]
    if not extra or not extra[0].startswith("-") or any(a.startswith("--") for a in extra):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    import petsc4py

    petsc4py.init([sys.argv[0], *extra])


def main(argv=None) -> int:
    single_process_threads()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        pass_to_petsc(parser, extra)
    from .parallel import guarded, setup_logging, world

    @guarded()
    def run() -> int:
        setup_logging(world(), args.log_level, args.log_dir)
        return int(args.handler(args) or 0)

    return run()


if __name__ == "__main__":
    sys.exit(main())
