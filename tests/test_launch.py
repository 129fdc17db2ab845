"""Launch lines: ranks of launches that share the machine are not pinned onto the same cores."""
import json
import os
import subprocess
import sys

import pytest

from bda_hpc.launch import launch_environment, mpi_flavour, mpiexec_command

AFFINITY = "import os; print(sorted(os.sched_getaffinity(0)))"


def _launched_affinity(**kwargs) -> list[int]:
    out = subprocess.run(mpiexec_command(1, **kwargs) + [sys.executable, "-c", AFFINITY], capture_output=True,
                         text=True, timeout=60, env=launch_environment(), check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to tell pinned from free")
def test_unbound_launch_may_run_on_every_core():
    assert _launched_affinity(bind=False) == sorted(os.sched_getaffinity(0))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or mpi_flavour() != "openmpi",
                    reason="Open MPI's default pinning on a machine with two cores or more")
def test_bound_launch_pins_rank_zero_to_one_core():
    # why the local executor unbinds: every launch's rank 0 would land on the same core
    assert len(_launched_affinity(bind=True)) == 1


def test_local_stages_launch_unbound_and_slurm_jobs_bound(monkeypatch):
    from types import SimpleNamespace

    from bda_hpc.workflow.job import stage_command

    stage = SimpleNamespace(ranks=2, case_argv=lambda case: ["prog"])
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    local = stage_command(stage, None)
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    in_job = stage_command(stage, None)
    assert local[:-1] == mpiexec_command(2, bind=False) and in_job[:-1] == mpiexec_command(2)


@pytest.mark.skipif(mpi_flavour() != "openmpi", reason="Open MPI's slot rule")
def test_oversubscribe_only_where_open_mpi_needs_it(monkeypatch):
    from bda_hpc.launch import physical_cores

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    cores = physical_cores()
    # Open MPI 5 does not bind ranks launched with the flag, so a launch that fits the cores goes without it
    assert "--oversubscribe" not in mpiexec_command(cores)
    assert "--oversubscribe" in mpiexec_command(cores + 1)
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # the allocation's tasks are the slots
    assert "--oversubscribe" not in mpiexec_command(cores + 1)


@pytest.mark.skipif(mpi_flavour() != "openmpi", reason="Open MPI's slot rule")
def test_more_ranks_than_cores_start():
    from bda_hpc.launch import physical_cores

    n = physical_cores() + 1
    out = subprocess.run(mpiexec_command(n) + [sys.executable, "-c", "print('up')"], capture_output=True, text=True,
                         timeout=120, env=launch_environment())
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["up"] * n
