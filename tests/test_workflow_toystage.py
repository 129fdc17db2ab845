"""A tiny stage for the driver's tests (no tests in here): reads upstream parameter files, writes one.

``python test_workflow_toystage.py --config C.toml --out-dir D [--params U.h5 ...] [--set toy.k=v ...]``

It computes ``x = scale * value + sum of the upstream files' x`` so a test can
check that numbers flowed along the graph, records how many MPI ranks it ran
on, and appends ``<stage> <out-dir>`` to the file named by ``$TOY_LEDGER`` so a
test can count which stages really ran. ``fail = true`` makes it fail with a
bda_hpc error, ``sleep`` makes it slow, and while the file named by
``$TOY_HOLD`` exists a stage with ``hold = true`` waits (to kill a run mid-stage
without changing its config).

Also holds the helpers the workflow tests share to write pipelines and read results.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOY = Path(__file__).resolve()


@dataclass
class ToyConfig:
    name: str = "toy"
    output: str = ""          # default: <name>.h5
    value: float = 1.0
    scale: float = 1.0
    fail: bool = False
    sleep: float = 0.0
    hold: bool = False


def toy_main(argv=None) -> int:
    from mpi4py import MPI

    from bda_hpc.errors import InputError
    from bda_hpc.io.params import Parameter, read_params, write_params
    from bda_hpc.parallel import guarded
    from bda_hpc.workflow.overrides import add_set_option, load_section_with_set

    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--params", action="append", default=[])
    add_set_option(parser)
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD

    @guarded()
    def run() -> int:
        cfg = load_section_with_set(args.config, "toy", ToyConfig, args.set)
        if comm.rank == 0 and os.environ.get("TOY_LEDGER"):
            with open(os.environ["TOY_LEDGER"], "a") as fh:
                fh.write(f"{cfg.name} {args.out_dir}\n")
        time.sleep(cfg.sleep)
        while cfg.hold and os.path.exists(os.environ.get("TOY_HOLD", "")):
            time.sleep(0.2)
        if cfg.fail:
            raise InputError("toy: configured to fail (toy.fail = true)", collective=True)
        upstream = sum(read_params(p, comm).require("x", units="m") for p in args.params)
        x = cfg.scale * cfg.value + upstream
        ranks = comm.allreduce(1)
        t = np.linspace(0.0, 1.0, 11)
        write_params(Path(args.out_dir) / (cfg.output or f"{cfg.name}.h5"), cfg.name,
                     {"x": Parameter(x, "m", "scale * value + upstream x", "toy arithmetic"),
                      "ranks": Parameter(ranks, "1", "MPI ranks it ran on", "allreduce")},
                     results={"curve": {"time": (t, "s"), "height": (x * t, "m")}},
                     config=Path(args.config).read_text() if args.config else "", inputs=args.params, comm=comm)
        return 0

    return run()


# ---------------------------------------------------------------- helpers for the tests
def toy_config(directory: Path, name: str, **values) -> str:
    """Write ``<name>.toml`` with a [toy] table; returns its file name."""
    lines = ["[toy]", f'name = "{name}"'] + [f"{k} = {_toml(v)}" for k, v in values.items()]
    (directory / f"{name}.toml").write_text("\n".join(lines) + "\n")
    return f"{name}.toml"


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v)


def toy_stage(name: str, reads=(), ranks: int = 1, output: str | None = None, needs=("x",), extra: str = "") -> str:
    """A [[stage]] table running the toy stage with config <name>.toml."""
    output = output or f"{name}.h5"
    return (f'[[stage]]\nname = "{name}"\nscript = "{TOY}"\nconfig = "{name}.toml"\n'
            f"reads = {_toml(list(reads))}\nwrites = {_toml([output])}\nprovides = [\"x\", \"ranks\"]\n"
            f"needs = {_toml(list(needs) if reads else [])}\nranks = {ranks}\ntime = \"00:05:00\"\n"
            f'memory = "200M"\n{extra}\n')


def write_pipeline(directory: Path, stages: list[str], header: str = "") -> Path:
    path = directory / "pipeline.toml"
    path.write_text(f'[pipeline]\nname = "toytest"\n{header}\n' + "\n".join(stages))
    return path


def ledger_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            counts[line.split()[0]] = counts.get(line.split()[0], 0) + 1
    return counts


def driver(args: list[str], env_extra: dict | None = None, timeout: float = 300, **kwargs):
    """Run ``bda-hpc ARGS`` as a separate process (as users do); returns the CompletedProcess."""
    import subprocess

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "bda_hpc.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, **kwargs)


if __name__ == "__main__":
    sys.exit(toy_main())
