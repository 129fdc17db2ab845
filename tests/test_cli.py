import json
import subprocess
import sys
from pathlib import Path

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


def test_info_names_the_blas_under_petsc_and_flags_the_reference_one():
    from bda_hpc.info import blas_libraries, blas_summary

    maps = "\n".join(f"7f00-7f01 r-xp 00000000 08:01 12 {path}" for path in (
        "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3",
        "/usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3",
        "/usr/lib/x86_64-linux-gnu/libscalapack-openmpi.so.2.2.1",
        "/venv/lib/python3.11/site-packages/numpy.libs/libscipy_openblas64_-fdde5778.so",
        "/usr/lib/x86_64-linux-gnu/libpetsc_real.so.3.18"))
    found = blas_libraries(maps + "\n7f02-7f03 rw-p 00000000 00:00 0")
    assert found == ["/usr/lib/x86_64-linux-gnu/blas/libblas.so.3", "/usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3"]
    assert blas_summary(found).startswith("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3 (reference BLAS")
    assert "reference" not in blas_summary(["/usr/lib/x86_64-linux-gnu/openblas-serial/libblas.so.3"])
    assert blas_summary([]) == "not found in this process"


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


@pytest.mark.parametrize("module, handler, argv", [
    ("bda_hpc.info", "run", ["info", "-fem_ksp_type", "cg"]),
    # the phasefield sub-command once had a positional that swallowed the values of single-dash options
    ("bda_hpc.phasefield.cli", "_run", ["phasefield", "--config", "x.toml", "-fem_ksp_type", "cg", "-pf_ts_monitor"]),
    ("bda_hpc.phasefield.cli", "_run", ["phasefield", "--config", "x.toml", "--", "-fem_ksp_type", "cg"]),
], ids=["info", "phasefield", "phasefield-after-dashes"])
def test_petsc_options_reach_petsc_and_unknown_long_options_fail(module, handler, argv):
    code = (f"import sys, importlib; from bda_hpc import cli; m = importlib.import_module({module!r})\n"
            "def handler(args):\n"
            "    from petsc4py import PETSc\n"
            "    print('ksp_type=' + PETSc.Options().getString('fem_ksp_type', 'unset'))\n"
            f"setattr(m, {handler!r}, handler)\n"
            f"sys.exit(cli.main({argv!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ksp_type=cg" in out.stdout
    bad = bda("info", "--bogus")
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="Linux /proc/cpuinfo")
def test_cpu_model_names_the_first_processor():
    from bda_hpc.info import cpu_model

    name = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name"))
    assert cpu_model().startswith(name + " (family ")
