"""The SLURM executor against a real SLURM (munged + slurmctld + slurmd started on this machine).

Submits a small pipeline with dependencies and a job array, with one stage made
to fail: its dependants are cancelled by SLURM and `status` says which stage
failed and why; after fixing the config, `submit --resume` finishes the run
without redoing finished stages.
"""
import json
import os
import time

import numpy as np
import pytest
from slurm_cluster import SlurmCluster, missing_binaries
from test_workflow_toystage import driver, ledger_counts, toy_config, toy_stage, write_pipeline

from bda_hpc.io.params import read_params
from bda_hpc.workflow.sweep import read_sweep_table

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = missing_binaries()
    if missing:
        pytest.skip(f"SLURM/munge binaries not installed ({', '.join(missing)}); `make setup` installs "
                    "slurm-wlm and munge where apt is available")
    if os.geteuid() != 0:
        pytest.skip("the test cluster's daemons (munged, slurmctld, slurmd) need root here")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"), cpus=2)
    try:
        cluster.start()
    except RuntimeError as exc:
        cluster.stop()
        pytest.skip(f"could not start the test SLURM cluster: {exc}")
    yield cluster
    cluster.stop()


def test_pipeline_with_dependencies_array_failure_and_resume(cluster, tmp_path):
    env = {"TOY_LEDGER": str(tmp_path / "ledger")}
    toy_config(tmp_path, "a", value=1.0)
    toy_config(tmp_path, "b", value=10.0, fail=True)
    toy_config(tmp_path, "d", value=1000.0)
    toy_config(tmp_path, "s", value=0.0)
    sweep = '[stage.sweep]\nmode = "list"\nvalues = { "toy.value" = [1.0, 2.0], "toy.scale" = [3.0, 5.0] }\n'
    spec = write_pipeline(tmp_path, [toy_stage("a"), toy_stage("b", reads=["a.h5"], ranks=2),
                                     toy_stage("s", reads=["a.h5"], extra=sweep), toy_stage("d", reads=["b.h5"])],
                          header="report = false\n[slurm]\npoll_seconds = 1.0\n")
    run = tmp_path / "run"
    out = driver(["submit", spec, "--scheduler", "slurm", "--run-dir", run, "--wait", "--timeout", "240"], env)
    assert out.returncode == 1, out.stdout + out.stderr + cluster.logs()
    assert "#SBATCH --array=0,1" in (run / "jobs" / "s.sbatch").read_text()
    status = driver(["status", run], env).stdout
    rows = {line.split()[0]: line.split()[1] for line in status.splitlines()[1:5]}
    assert rows == {"a": "done", "b": "failed", "s": "done", "d": "cancelled"}, status
    assert "b failed: exit code 1: error: toy: configured to fail (toy.fail = true)" in status
    assert "d cancelled: job" in status and "DependencyNeverSatisfied" in status
    keys, columns, _ = read_sweep_table(run / "s" / "s_sweep.h5")
    np.testing.assert_allclose(columns["x"], [1.0 * 3.0 + 1.0, 2.0 * 5.0 + 1.0])
    assert json.loads((run / "state" / "s.case-0001.json").read_text())["job_id"].endswith("_1")

    toy_config(tmp_path, "b", value=10.0)                                   # the fix
    (tmp_path / "pipeline.toml").write_text((tmp_path / "pipeline.toml").read_text().replace("report = false", ""))
    out = driver(["submit", "--resume", "--run-dir", run, "--wait", "--timeout", "240"], env)
    assert out.returncode == 0, out.stdout + out.stderr + cluster.logs()
    assert "a                up to date" in out.stdout and "s                up to date" in out.stdout
    assert ledger_counts(tmp_path / "ledger") == {"a": 1, "b": 2, "s": 2, "d": 1}
    assert read_params(run / "d" / "d.h5").require("x", units="m") == pytest.approx(1011.0)
    assert read_params(run / "b" / "b.h5").require("ranks") == 2               # mpiexec inside the allocation
    b_done = json.loads((run / "state" / "b.json").read_text())["finished"]
    assert json.loads((run / "state" / "d.json").read_text())["started"] >= b_done   # afterok held d back
    deadline = time.monotonic() + 120                                        # the report job runs last
    while not (run / "report" / "report.html").exists() and time.monotonic() < deadline:
        time.sleep(1)
    assert "| x | 1011 | m |" in (run / "report" / "report.md").read_text()


def test_too_many_ranks_for_the_partition_and_single_job(cluster, tmp_path):
    env = {"TOY_LEDGER": str(tmp_path / "ledger")}
    toy_config(tmp_path, "a", value=4.0)
    write_pipeline(tmp_path, [toy_stage("a", ranks=3)], header="report = false\n")
    run = tmp_path / "run"
    out = driver(["submit", tmp_path / "pipeline.toml", "--run-dir", run], env)
    assert out.returncode == 1
    assert "more ranks than SLURM partition (default) has (2 cores): 'a' asks for 3" in out.stderr
    assert not (run / "jobs").exists()

    write_pipeline(tmp_path, [toy_stage("a", ranks=2)], header="report = false\n")
    out = driver(["submit", tmp_path / "pipeline.toml", "--run-dir", run, "--single-job"], env)
    assert out.returncode == 0, out.stderr
    assert "#SBATCH --ntasks=2" in (run / "jobs" / "pipeline.sbatch").read_text()
    deadline = time.monotonic() + 120
    while not (run / "a" / "a.h5").exists() and time.monotonic() < deadline:
        time.sleep(1)
    assert read_params(run / "a" / "a.h5").require("ranks") == 2
