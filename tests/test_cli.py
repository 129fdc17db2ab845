import json
import subprocess
import sys

import pytest


def bda(*args):
    return subprocess.run([sys.executable, "-m", "bda_hpc.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_info():
    out = bda("--help")
    assert out.returncode == 0 and "info" in out.stdout


def test_info_json_reports_stack():
    out = bda("info", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ranks"] == 1
    assert data["h5py_mpi"] is True
    assert data["petsc"]["version"].count(".") == 2
    assert all(v == "ok" for v in data["compiled_kernels"].values()) and "neighbors" in data["compiled_kernels"]


def test_bad_log_level_is_one_clear_error():
    out = bda("info", "--log-level", "LOUD")
    assert out.returncode != 0
    assert out.stderr.count("unknown level 'LOUD'") == 1


@pytest.mark.mpi
def test_info_on_two_ranks(comm):
    from bda_hpc.info import collect

    data = collect(comm)
    assert data["ranks"] == 2
    assert data["h5py_mpi"] is True
    assert "Open MPI" in data["mpi_library"] or "MPICH" in data["mpi_library"]
