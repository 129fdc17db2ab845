"""How to start N MPI ranks here: the mpiexec command line with the flags this MPI needs.

Open MPI refuses to run as root without ``--allow-run-as-root`` and more ranks
than cores without ``--oversubscribe``; MPICH needs neither. Tests, the
Makefile and the local executor all build their command lines here.

``python -m bda_hpc.launch -n 2`` prints the prefix for shell use.
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess


@functools.cache
def mpi_flavour(mpiexec: str = "mpiexec") -> str:
    """'openmpi', 'mpich' or 'unknown', from ``mpiexec --version``."""
    try:
        text = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lowered = text.lower()
    if "open mpi" in lowered or "open-mpi" in lowered or "openrte" in lowered:
        return "openmpi"
    if "hydra" in lowered or "mpich" in lowered:
        return "mpich"
    return "unknown"


def mpiexec_command(nranks: int, mpiexec: str | None = None, oversubscribe: bool = True) -> list[str]:
    """``[mpiexec, flags..., -n, N]``; append the program and its arguments."""
    exe = mpiexec or os.environ.get("BDA_HPC_MPIEXEC") or shutil.which("mpiexec") or "mpiexec"
    cmd = [exe]
    if mpi_flavour(exe) == "openmpi":
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
        if oversubscribe:
            cmd.append("--oversubscribe")
    cmd += ["-n", str(nranks)]
    return cmd


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2, help="number of ranks")
    args = parser.parse_args(argv)
    print(" ".join(mpiexec_command(args.n)))


if __name__ == "__main__":
    main()
