"""Design batches through the batch driver (bda_hpc.workflow): each batch is a driver sweep of
``bda-hpc design simulate`` cases, run by the local executor or submitted to SLURM as a job array;
outcomes come back from the driver's records, failed cases included."""
import numpy as np
import pytest
from test_slurm_pipeline import cluster  # noqa: F401  (module fixture: the test SLURM cluster)

from bda_hpc.config import from_dict
from bda_hpc.design.stage import DesignConfig, run_design
from bda_hpc.io.params import read_params


def quadratic_config(backend: str, **extra) -> DesignConfig:
    """ConstrainedQuadratic: f = -(x-0.7)^2 - (y-0.3)^2, g = 0.5 - x; runs with y > 0.8 fail on purpose."""
    return from_dict(DesignConfig, {
        "problem": "constrained_quadratic", "options": {"fail_above": 0.8}, "workers": 2, "backend": backend,
        "random_search": False, "learning_curve": False,
        "variables": [{"name": "x", "low": 0.0, "high": 1.0}, {"name": "y", "low": 0.0, "high": 1.0}],
        "loop": {"budget": 8, "initial": 5, "batch": 2, "liar_epochs": 40, "candidates": 256, "seed": 3},
        "surrogate": {"members": 3, "hidden": [16, 16], "epochs": 200, "patience": 50}, **extra})


def check_driver_batches(out, out_dir):
    data = out["data"]
    assert len(data) == 8
    # every case ran as its own driver case; the values are the simulator's own (checked against the formula)
    ok = data.ok
    x, y = data.X[ok, 0], data.X[ok, 1]
    np.testing.assert_allclose(data.column("f")[ok], -(x - 0.7) ** 2 - (y - 0.3) ** 2, rtol=1e-12)
    np.testing.assert_allclose(data.column("g")[ok], 0.5 - x, rtol=1e-12)
    failed = np.flatnonzero(~ok)
    assert np.all(data.X[failed, 1] > 0.8) and np.all(data.X[ok, 1] <= 0.8)
    for i in failed:  # the driver's reason, with the case's own error line
        assert "driver case" in data.message[i] and "synthetic failure at y" in data.message[i]
    batches = sorted(p.name for p in (out_dir / "batches").glob("batch-*") if p.is_dir())
    assert batches == ["batch-001", "batch-002", "batch-003"]  # initial sample, one BO batch, verification
    case = read_params(out_dir / "batches" / "batch-001" / "simulate" / "case-0000" / "design_run.h5")
    assert case.require("f") == pytest.approx(data.column("f")[0]) or not ok[0]


def test_design_batches_run_as_local_driver_sweeps(tmp_path):
    # the LHS initial sample (seed 3) holds one point with y > 0.8, so the first batch has a failed case
    out = run_design(quadratic_config("local"), tmp_path)
    assert (~out["data"].ok).sum() >= 1
    check_driver_batches(out, tmp_path)
    assert read_params(tmp_path / "design.h5").require("f") <= 0.0


@pytest.mark.slurm
def test_design_batches_run_as_slurm_job_arrays(cluster, tmp_path):  # noqa: F811
    """The same loop with every batch submitted as a job array to the one-node SLURM of tests/slurm_cluster.py."""
    out = run_design(quadratic_config("slurm", slurm={"poll_seconds": 1.0}, run_timeout=120.0), tmp_path)
    check_driver_batches(out, tmp_path)
    script = (tmp_path / "batches" / "batch-001" / "jobs" / "simulate.sbatch").read_text()
    assert "#SBATCH --array=0,1,2,3,4" in script, cluster.logs()
