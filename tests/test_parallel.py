"""Collective error handling: a failure on one rank ends the job quickly, reported once."""
import textwrap
import time

import pytest
from conftest import run_mpi

STAGE = textwrap.dedent("""
    from bda_hpc.errors import ConfigError
    from bda_hpc.parallel import guarded, world

    @guarded()
    def stage():
        comm = world()
        if comm.rank == 1:
            raise RuntimeError("boom in the solver")
        comm.Barrier()          # rank 0 would wait here forever without the guard

    @guarded()
    def bad_config():
        raise ConfigError("c.toml:[pf].dt: must be positive")

    import sys
    {call}()
""")


def test_exception_on_one_rank_ends_job_with_one_message(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text(STAGE.format(call="stage"))
    start = time.monotonic()
    out = run_mpi(2, [str(script)], timeout=60)
    elapsed = time.monotonic() - start
    assert out.returncode != 0
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert out.stderr.count("boom in the solver") == 1, out.stderr
    assert "[rank 1 of 2]" in out.stderr


def test_collective_error_printed_once_by_rank_zero(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text(STAGE.format(call="bad_config"))
    out = run_mpi(2, [str(script)], timeout=60)
    assert out.returncode != 0
    assert out.stderr.count("must be positive") == 1, out.stderr


@pytest.mark.mpi
def test_all_ok_raises_same_error_everywhere(comm):
    from bda_hpc.errors import BdaError
    from bda_hpc.parallel import all_ok

    all_ok(comm, True, "fine")
    with pytest.raises(BdaError, match=r"bad block \(on rank 1\)"):
        all_ok(comm, comm.rank != 1, "bad block")
