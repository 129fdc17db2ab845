"""The local executor end to end with the toy stage: numbers along the graph, skipping, failure, restart, sweeps."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_workflow_toystage import driver, ledger_counts, toy_config, toy_stage, write_pipeline

from bda_hpc.io.params import read_params
from bda_hpc.workflow.sweep import read_sweep_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def env(tmp_path):
    return {"TOY_LEDGER": str(tmp_path / "ledger"), "TOY_HOLD": str(tmp_path / "hold")}


def x_of(path) -> float:
    return read_params(path).require("x", units="m")


def diamond(tmp_path, **b_options):
    """a -> (b on 2 ranks, c) -> d, with values chosen so every path shows in d's x."""
    toy_config(tmp_path, "a", value=1.0)
    toy_config(tmp_path, "b", value=10.0, **b_options)
    toy_config(tmp_path, "c", value=100.0)
    toy_config(tmp_path, "d", value=1000.0)
    return write_pipeline(tmp_path, [toy_stage("a"), toy_stage("b", reads=["a.h5"], ranks=2),
                                     toy_stage("c", reads=["a.h5"]), toy_stage("d", reads=["b.h5", "c.h5"])],
                          header="cores = 2")


def test_failure_resume_numbers_report_skip_and_rerun_downstream(tmp_path, env):
    spec, run = diamond(tmp_path, fail=True), tmp_path / "run"
    out = driver(["run", spec, "--run-dir", run, "--no-report"], env)
    assert out.returncode == 1
    status = driver(["status", run], env).stdout
    rows = {line.split()[0]: line.split()[1] for line in status.splitlines()[1:5]}
    assert rows == {"a": "done", "b": "failed", "c": "done", "d": "cancelled"}
    assert "b failed: exit code 1: error: toy: configured to fail (toy.fail = true)" in status
    assert "d cancelled: upstream stage 'b' did not finish" in status
    assert not (run / "d" / "d.h5").exists()

    toy_config(tmp_path, "b", value=10.0)                       # the fix
    out = driver(["run", "--resume", "--run-dir", run], env)    # the run directory knows its spec
    assert out.returncode == 0, out.stderr
    assert ledger_counts(tmp_path / "ledger") == {"a": 1, "b": 2, "c": 1, "d": 1}
    # x_a = 1, x_b = 10 + 1, x_c = 100 + 1, x_d = 1000 + 11 + 101
    assert x_of(run / "d" / "d.h5") == pytest.approx(1112.0)
    assert read_params(run / "b" / "b.h5").require("ranks") == 2
    report = (run / "report" / "report.md").read_text()
    assert "| x | 1112 | m |" in report and "| b.h5 | stage b |" in report and "unchanged" in report
    images = [line.split("(")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    assert "timeline.png" in images and "d_0.png" in images
    for image in images:
        assert (run / "report" / image).read_bytes()[:8] == PNG_MAGIC
    assert f"report: {run / 'report' / 'report.html'}" in out.stdout

    out = driver(["run", spec, "--run-dir", run, "--no-report"], env)        # nothing changed: nothing runs
    assert out.returncode == 0 and out.stderr.count("(up to date)") == 4
    assert ledger_counts(tmp_path / "ledger") == {"a": 1, "b": 2, "c": 1, "d": 1}

    toy_config(tmp_path, "c", value=200.0)                      # c changes: c and d re-run, a and b do not
    out = driver(["run", spec, "--run-dir", run, "--no-report"], env)
    assert out.returncode == 0, out.stderr
    assert ledger_counts(tmp_path / "ledger") == {"a": 1, "b": 2, "c": 2, "d": 2}
    assert x_of(run / "d" / "d.h5") == pytest.approx(1212.0)


def test_killed_run_redoes_only_unfinished_stages(tmp_path, env):
    toy_config(tmp_path, "a", value=1.0)
    toy_config(tmp_path, "b", value=2.0, hold=True)
    spec = write_pipeline(tmp_path, [toy_stage("a"), toy_stage("b", reads=["a.h5"])])
    run, hold = tmp_path / "run", tmp_path / "hold"
    hold.touch()
    command = [sys.executable, "-m", "bda_hpc.cli", "run", str(spec), "--run-dir", str(run), "--no-report"]
    proc = subprocess.Popen(command, env=dict(os.environ, **env), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while ledger_counts(tmp_path / "ledger").get("b", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ledger_counts(tmp_path / "ledger") == {"a": 1, "b": 1}, "b never started"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)        # the whole job dies, as under a time limit or a node loss
        proc.wait()
    assert json.loads((run / "state" / "b.json").read_text())["status"] == "running"
    hold.unlink()
    out = driver(["run", spec, "--run-dir", run, "--no-report"], env)
    assert out.returncode == 0, out.stderr
    assert ledger_counts(tmp_path / "ledger") == {"a": 1, "b": 2}
    assert x_of(run / "b" / "b.h5") == pytest.approx(3.0)


def test_sweep_runs_side_by_side_and_gathers_a_table(tmp_path, env):
    toy_config(tmp_path, "a", value=1.0)
    toy_config(tmp_path, "s", value=0.0)
    sweep = '[stage.sweep]\nmode = "grid"\nvalues = { "toy.value" = [1.0, 2.0], "toy.scale" = [10.0, 100.0] }\n'
    spec = write_pipeline(tmp_path, [toy_stage("a"), toy_stage("s", reads=["a.h5"], extra=sweep)], "cores = 2")
    run = tmp_path / "run"
    out = driver(["run", spec, "--run-dir", run], env)
    assert out.returncode == 0, out.stderr
    keys, columns, units = read_sweep_table(run / "s" / "s_sweep.h5")
    assert keys == ["toy.value", "toy.scale"]
    np.testing.assert_allclose(columns["toy.value"], [1, 1, 2, 2])
    np.testing.assert_allclose(columns["toy.scale"], [10, 100, 10, 100])
    np.testing.assert_allclose(columns["x"], columns["toy.value"] * columns["toy.scale"] + 1.0)
    assert units["x"] == "m"
    assert (run / "s" / "s_sweep.csv").read_text().splitlines()[0] == "toy.value,toy.scale,ranks [1],x [m]"
    # the four cases shared the two cores: some pair of them overlapped in time
    spans = [json.loads((run / "state" / f"s.case-{i:04d}.json").read_text()) for i in range(4)]
    assert any(p["started"] < q["finished"] and q["started"] < p["finished"]
               for i, p in enumerate(spans) for q in spans[i + 1:])
    report = (run / "report" / "report.md").read_text()
    assert "![s_sweep.h5: each result against each swept key](s_sweep.png)" in report


def test_a_failed_sweep_case_does_not_stop_the_others(tmp_path, env):
    """One core, so the cases run one after another: the first fails, the rest still run (as a SLURM job array
    would run them) and the stage ends failed without a gather. The design loop relies on this."""
    toy_config(tmp_path, "s", value=1.0)
    sweep = '[stage.sweep]\nmode = "list"\nvalues = { "toy.fail" = [true, false, false] }\n'
    spec = write_pipeline(tmp_path, [toy_stage("s", extra=sweep)], "cores = 1")
    run = tmp_path / "run"
    out = driver(["run", spec, "--run-dir", run, "--no-report"], env)
    assert out.returncode == 1
    states = [json.loads((run / "state" / f"s.case-{i:04d}.json").read_text())["status"] for i in range(3)]
    assert states == ["failed", "done", "done"]
    assert not (run / "s" / "s_sweep.h5").exists()
