"""The SLURM executor: one job per stage, a job array per sweep, chained with ``--dependency=afterok``.

Job scripts are rendered from the templates in ``jobscripts/`` (``${name}``
placeholders, :class:`string.Template`) into ``RUN_DIR/jobs/`` and submitted
with ``sbatch --parsable --kill-on-invalid-dep=yes``: when a stage fails, SLURM
cancels everything that depends on it. Each job runs
``python -m bda_hpc.workflow.job`` (job.py), which writes the stage's state
record; :func:`scheduler_states` asks squeue / scontrol / sacct about jobs
that ended without one.
"""
from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from string import Template

from ..errors import BdaError, ConfigError
from ..launch import launch_environment
from .plan import Plan, PlannedStage
from .spec import SlurmOptions
from .state import RUNNING, SUBMITTED, fingerprint, part_name, read_record, up_to_date, update_record

log = logging.getLogger("bda_hpc.workflow")

JOBSCRIPTS = Path(__file__).resolve().parents[2] / "jobscripts"
ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING")


def require_slurm() -> None:
    missing = [tool for tool in ("sbatch", "squeue", "scontrol") if shutil.which(tool) is None]
    if missing:
        raise BdaError(f"--scheduler slurm: {', '.join(missing)} not found on PATH (no SLURM client here); "
                       "run the pipeline on this machine with `bda-hpc run` instead", collective=True)


def _slurm(cmd: list[str], what: str) -> str:
    try:   # sbatch hands its environment to the job: not the driver's MPI variables
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=launch_environment())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BdaError(f"{what}: {' '.join(cmd)} failed: {exc}", collective=True) from None
    if out.returncode != 0:
        raise BdaError(f"{what}: {' '.join(cmd)} failed: {out.stderr.strip() or out.stdout.strip()}",
                       collective=True)
    return out.stdout


def partition_cores(partition: str) -> int:
    """Total CPUs of the partition (the default one when empty), from sinfo."""
    cmd = ["sinfo", "-h", "-o", "%D %c"] + (["-p", partition] if partition else [])
    total = 0
    for line in _slurm(cmd, "asking SLURM for the partition size").splitlines():
        nodes, cpus = line.split()
        total += int(nodes) * int(cpus.rstrip("+"))
    if total == 0:
        raise ConfigError(f"SLURM partition {partition or '(default)'!r} has no nodes")
    return total


def _query(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout if out.returncode == 0 else ""


def scheduler_states(job_ids: set[str]) -> dict[str, tuple[str, str]]:
    """job id -> (state, reason): squeue for queued jobs, scontrol for recently ended ones, then sacct."""
    found: dict[str, tuple[str, str]] = {}
    for line in _query(["squeue", "-h", "-r", "-o", "%i|%T|%r"]).splitlines():
        jid, state, reason = (line.split("|") + ["", ""])[:3]
        if jid in job_ids:
            found[jid] = (state, "" if reason == "None" else reason)
    for jid in job_ids - set(found):
        fields = dict(tok.split("=", 1) for tok in _query(["scontrol", "-o", "show", "job", jid]).split()
                      if "=" in tok)
        if "JobState" in fields:
            reason = fields.get("Reason", "None")
            found[jid] = (fields["JobState"], "" if reason == "None" else f"{reason}, exit {fields.get('ExitCode')}")
    rest = job_ids - set(found)
    if rest:
        sacct = ["sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode", "-j", ",".join(rest)]
        for line in _query(sacct).splitlines():
            jid, state, code = (line.split("|") + ["", ""])[:3]
            if jid in rest:
                found[jid] = (state.split()[0], f"exit {code}")
    return found


def active_jobs(run_dir: Path, plan: Plan) -> list[str]:
    """'job (stage)' for every job of an earlier submission that is still queued or running."""
    submitted: dict[str, str] = {}
    for stage in plan.stages.values():
        parts = [""] if stage.cases is None else [part_name(i) for i in range(len(stage.cases))] + ["gather"]
        for part in parts:
            record = read_record(run_dir, stage.name, part)
            if record is not None and record.status in (SUBMITTED, RUNNING) and record.job_id:
                submitted[record.job_id] = stage.name
    states = scheduler_states(set(submitted)) if submitted else {}
    return [f"{jid} ({submitted[jid]})" for jid, (state, _) in states.items() if state in ACTIVE]


class SlurmExecutor:
    def __init__(self, plan: Plan, options: SlurmOptions, workdir: Path | None = None):
        self.plan = plan
        self.options = options
        self.run_dir = Path(plan.run_dir)
        self.workdir = Path(workdir or os.getcwd()).resolve()
        self.jobs_dir = self.run_dir / "jobs"

    def _render(self, template: str, name: str, **fields) -> Path:
        """Fill a template from jobscripts/ with ``fields`` and what every job gets; returns the script."""
        extra = [f"#SBATCH --partition={self.options.partition}"] if self.options.partition else []
        extra += [f"#SBATCH --account={self.options.account}"] if self.options.account else []
        extra += [f"#SBATCH {arg}" for arg in self.options.sbatch_args]
        text = Template((JOBSCRIPTS / template).read_text()).substitute(
            job_name=f"{self.plan.name}-{name}", log_dir=shlex.quote(str(self.run_dir / "logs")),
            sbatch_extra="\n".join(extra), setup="\n".join(self.options.setup),
            workdir=shlex.quote(str(self.workdir)), python=shlex.quote(sys.executable),
            run_dir=shlex.quote(str(self.run_dir)), **fields)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)     # SLURM cannot start a job whose --output dir is missing
        path = self.jobs_dir / f"{name}.sbatch"
        path.write_text(text)
        return path

    @staticmethod
    def _resources(stage: PlannedStage | None) -> dict:
        """ranks/time/memory of a stage; None: a one-core helper job (gather, report)."""
        if stage is None:
            return {"ranks": 1, "time": "00:10:00", "memory": "1G"}
        return {"ranks": stage.ranks, "time": stage.time, "memory": stage.memory}

    def _sbatch(self, script: Path, after: list[str]) -> str:
        cmd = ["sbatch", "--parsable", "--kill-on-invalid-dep=yes"]
        if after:
            cmd.append("--dependency=afterok:" + ":".join(after))
        return _slurm(cmd + [str(script)], f"submitting {script.name}").strip().split(";")[0]

    def _submit_stage(self, stage: PlannedStage, after: list[str]) -> str:
        """Submit a stage (or the stale cases of a sweep and its gather job); returns the job to wait for."""
        if stage.cases is None:
            script = self._render("stage.sbatch", stage.name, **self._resources(stage), module="bda_hpc.workflow.job",
                                  job_args=shlex.quote(stage.name))
            job = self._sbatch(script, after)
            update_record(self.run_dir, stage.name, status=SUBMITTED, job_id=job, reason="", returncode=None,
                          outputs={}, started=None, finished=None)
            return job
        stale = [i for i in range(len(stage.cases))
                 if not up_to_date(self.run_dir, stage, part_name(i), fingerprint(stage, i))]
        if stale:
            script = self._render("array.sbatch", stage.name, **self._resources(stage), stage=shlex.quote(stage.name),
                                  array=",".join(map(str, stale)))
            array_job = self._sbatch(script, after)
            for i in stale:
                update_record(self.run_dir, stage.name, part_name(i), status=SUBMITTED, job_id=f"{array_job}_{i}",
                              reason="", returncode=None, outputs={}, started=None, finished=None)
            after = [array_job]
        script = self._render("stage.sbatch", f"{stage.name}-gather", **self._resources(None),
                              module="bda_hpc.workflow.job",
                              job_args=f"{shlex.quote(stage.name)} --gather")
        job = self._sbatch(script, after)
        update_record(self.run_dir, stage.name, "gather", status=SUBMITTED, job_id=job, reason="",
                      returncode=None, outputs={}, started=None, finished=None)
        return job

    def _is_current(self, stage: PlannedStage) -> bool:
        parts = [None] if stage.cases is None else list(range(len(stage.cases)))
        current = all(up_to_date(self.run_dir, stage, part_name(i), fingerprint(stage, i)) for i in parts)
        if stage.cases is not None:
            current = current and up_to_date(self.run_dir, stage, "gather", fingerprint(stage, gather=True))
        return current

    def submit(self, report: bool = True) -> dict[str, str]:
        """Submit every stage that is not up to date; returns stage -> job id ('' when skipped)."""
        jobs: dict[str, str] = {}
        for stage in self.plan.stages.values():
            after = [jobs[up] for up in stage.upstream if jobs.get(up)]
            if not after and self._is_current(stage):
                jobs[stage.name] = ""
                log.info("skip %s (up to date)", stage.name)
                continue
            jobs[stage.name] = self._submit_stage(stage, after)
            log.info("submitted %s as job %s%s", stage.name, jobs[stage.name],
                     f" after {', '.join(after)}" if after else "")
        if report:
            script = self._render("stage.sbatch", "report", **self._resources(None),
                                  module="bda_hpc.workflow.report", job_args="")
            jobs["(report)"] = self._sbatch(script, [j for j in jobs.values() if j])
        return jobs

    def submit_single_allocation(self, spec_path: Path, cores: int) -> str:
        """The whole pipeline as one job running the local executor; its time limit is the sum of the stages'."""
        minutes = sum(_minutes(s.time) for s in self.plan.stages.values())
        script = self._render("pipeline.sbatch", "pipeline", cores=cores, time=minutes,
                              spec=shlex.quote(str(spec_path)))
        return self._sbatch(script, [])


def _minutes(walltime: str) -> int:
    """SLURM wall time ('[D-]HH:MM:SS' or minutes) in whole minutes, rounded up."""
    days, _, clock = walltime.rpartition("-")
    if ":" not in clock:
        return int(clock)
    h, m, s = (int(x) for x in clock.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def wait_for(run_dir: Path, poll_s: float, timeout_s: float | None = None) -> None:
    """Block until no stage, and no part of a sweep, is submitted or running any more (progress on the log).

    A sweep counts as failed at its first failed case while its other array tasks may still run: those
    are waited for too, so every case has its final record when this returns."""
    from .status import run_status

    start, last = time.monotonic(), ""
    while True:
        rows = run_status(run_dir, ask_scheduler=True)
        summary = ", ".join(f"{r.name}: {r.state}" for r in rows)
        if summary != last:
            log.info("%s", summary)
            last = summary
        if not any(r.state in (SUBMITTED, RUNNING, "pending", "partial") or r.parts_active for r in rows):
            return
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise BdaError(f"--wait: the run in {run_dir} has not finished after {timeout_s:.0f} s")
        time.sleep(poll_s)
