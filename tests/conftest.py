"""Shared test fixtures. Tests marked ``mpi`` run under ``mpiexec -n 2`` (tools/mpi_pytest.sh)."""
import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def comm():
    """COMM_WORLD, with a collective-safe teardown (gc on every rank, then a barrier)."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    yield world
    gc.collect()
    world.Barrier()


@pytest.fixture
def shared_tmp(comm, tmp_path_factory):
    """One temporary directory that every rank sees (rank 0 creates it)."""
    path = str(tmp_path_factory.mktemp("shared")) if comm.rank == 0 else None
    return Path(comm.bcast(path, root=0))


def run_mpi(nranks: int, args: list[str], timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python args...`` on ``nranks`` ranks from a serial test."""
    from bda_hpc.launch import launch_environment, mpiexec_command

    kwargs.setdefault("env", launch_environment())
    return subprocess.run(mpiexec_command(nranks) + [sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def shared_data(*parts: str) -> Path:
    path = SHARED.joinpath("data", *parts)
    if not path.exists():
        pytest.skip(f"shared data {path} not present")
    return path
