"""How to start N MPI ranks here: the mpiexec command line with the flags this MPI needs.

Open MPI refuses to run as root without ``--allow-run-as-root`` and more ranks
than cores without ``--oversubscribe``; MPICH needs neither. Open MPI also pins
rank i to core i of the machine, whatever else runs: two 2-rank launches side
by side then share cores 0 and 1 while the others idle, so launches that share
a machine (the local executor's concurrent stages) ask for ``bind=False``;
MPICH's Hydra binds nothing unless asked. Tests, the Makefile and the local
executor all build their command lines here.

``python -m bda_hpc.launch -n 2`` prints the prefix for shell use.
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
from pathlib import Path


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


# What an MPI process inherits from its launcher (or sets itself as an Open MPI singleton: any process
# that imported mpi4py). A child mpiexec that sees these believes it runs inside another job and fails
# without a word. User settings such as OMPI_MCA_btl are kept.
LAUNCHER_VARIABLES = ("PMIX_", "ORTE_", "PRTE_", "OMPI_MCA_ess", "OMPI_MCA_orte_", "OMPI_MCA_pmix", "OMPI_APP_CTX",
                      "OMPI_COMM_WORLD", "OMPI_UNIVERSE_SIZE", "OMPI_FILE_LOCATION", "OMPI_NUM_APP_CTX",
                      "OMPI_FIRST_RANKS", "OMPI_ARGV", "OMPI_COMMAND", "OMPI_MCA_initial_wdir",
                      "PMI_", "HYDRA_")


def launch_environment(**extra: str) -> dict[str, str]:
    """This process's environment without the variables of the MPI job it may be part of."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_VARIABLES)}
    env.update(extra)
    return env


def physical_cores() -> int:
    """Cores (not hardware threads) among the CPUs this process may run on: Open MPI's slots outside a batch job."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topology.joinpath("physical_package_id").read_text(), topology.joinpath("core_id").read_text()))
        except OSError:  # no sysfs topology: count the CPU
            cores.add(("cpu", cpu))
    return max(len(cores), 1)


def mpiexec_command(nranks: int, mpiexec: str | None = None, oversubscribe: bool | None = None,
                    bind: bool = True) -> list[str]:
    """``[mpiexec, flags..., -n, N]``; append the program and its arguments.

    ``oversubscribe=None`` asks for it only where Open MPI needs it: more ranks than this machine's cores, outside
    a SLURM allocation (inside one the job's tasks are the slots). From Open MPI 5 on the flag also turns off
    binding, so it is not passed where it is not needed.
    ``bind=False`` leaves the ranks to the OS scheduler (for launches that share the machine).
    """
    exe = mpiexec or os.environ.get("BDA_HPC_MPIEXEC") or shutil.which("mpiexec") or "mpiexec"
    cmd = [exe]
    if mpi_flavour(exe) == "openmpi":
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
        if oversubscribe is None:
            oversubscribe = "SLURM_JOB_ID" not in os.environ and nranks > physical_cores()
        if oversubscribe:
            cmd.append("--oversubscribe")
        if not bind:
            cmd += ["--bind-to", "none"]
    cmd += ["-n", str(nranks)]
    return cmd


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2, help="number of ranks")
    args = parser.parse_args(argv)
    print(" ".join(mpiexec_command(args.n)))


if __name__ == "__main__":
    main()
