"""The local executor: run the plan on this machine (or inside one allocation), stages side by side.

Each stage run is a child ``python -m bda_hpc.workflow.job`` (see job.py), so
what runs here is exactly what a SLURM job runs. A stage starts when every
upstream stage is done and enough cores are free; independent stages and the
cases of a sweep share the cores. A stage whose run is up to date (state.py)
is skipped; when a stage fails, everything downstream is cancelled and the
other branches go on.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BdaError
from ..launch import launch_environment
from .plan import Plan, PlannedStage
from .state import CANCELLED, DONE, FAILED, fingerprint, part_name, read_record, up_to_date, update_record

log = logging.getLogger("bda_hpc.workflow")

HEARTBEAT_S = 30.0


def available_cores() -> int:
    """Cores this process may use: the SLURM allocation on this node if inside one, else the CPU affinity."""
    for var in ("SLURM_CPUS_ON_NODE", "SLURM_NTASKS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class RunDirLock:
    """Only one driver per run directory; the lock dies with the process (flock), so a killed run frees it."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".driver.lock"
        self.fd: int | None = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 64).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise BdaError(f"{self.path.parent}: another driver (pid {holder}) is running this run directory; "
                           "wait for it or use another --run-dir") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


@dataclass
class Part:
    """One child process to run: a stage, one sweep case, or a sweep's gather step."""

    stage: PlannedStage
    case: int | None = None
    gather: bool = False

    @property
    def label(self) -> str:
        part = part_name(self.case, self.gather)
        return f"{self.stage.name}[{part}]" if part else self.stage.name

    @property
    def ranks(self) -> int:
        return 1 if self.gather else self.stage.ranks


@dataclass
class StageProgress:
    pending: list[Part] = field(default_factory=list)
    running: int = 0
    failed: bool = False
    gathered: bool = True      # a sweep sets this False until its gather part has been queued


class LocalExecutor:
    def __init__(self, plan: Plan, cores: int, poll_s: float = 0.1):
        self.plan = plan
        self.run_dir = Path(plan.run_dir)
        self.cores = cores
        self.poll_s = poll_s
        self.status: dict[str, str] = {name: "waiting" for name in plan.stages}
        self.progress: dict[str, StageProgress] = {}
        self.children: dict[subprocess.Popen, tuple[Part, float]] = {}
        self.t0 = time.monotonic()

    def say(self, message: str) -> None:
        log.info("[%7.1f s] %s", time.monotonic() - self.t0, message)

    # ------------------------------------------------------------------ deciding what to run
    def _start_stage(self, stage: PlannedStage) -> None:
        """Queue the parts of ``stage`` that are not up to date; skip it if none is left."""
        cases = [None] if stage.cases is None else list(range(len(stage.cases)))
        stale = [Part(stage, case) for case in cases
                 if not up_to_date(self.run_dir, stage, part_name(case), fingerprint(stage, case))]
        progress = StageProgress(pending=stale, gathered=stage.cases is None)
        if stage.cases is not None and not stale and up_to_date(self.run_dir, stage, "gather",
                                                                  fingerprint(stage, gather=True)):
            progress.gathered = True
        if not stale and progress.gathered:
            self.status[stage.name] = "skipped"
            self.say(f"skip {stage.name} (up to date)")
            return
        if not stale:
            progress.pending.append(Part(stage, gather=True))
            progress.gathered = True
        self.progress[stage.name] = progress
        self.status[stage.name] = "active"

    def _cancel(self, stage: PlannedStage, cause: str) -> None:
        self.status[stage.name] = CANCELLED
        update_record(self.run_dir, stage.name, status=CANCELLED, reason=f"upstream stage {cause!r} did not finish",
                      returncode=None, outputs={}, job_id="", started=None, finished=time.time())
        self.say(f"cancel {stage.name} (upstream {cause} did not finish)")

    def _release_ready(self) -> None:
        for stage in self.plan.stages.values():
            if self.status[stage.name] != "waiting":
                continue
            states = {up: self.status[up] for up in stage.upstream}
            broken = [up for up, st in states.items() if st in (FAILED, CANCELLED)]
            if broken:
                self._cancel(stage, broken[0])
            elif all(st in (DONE, "skipped") for st in states.values()):
                self._start_stage(stage)

    # ------------------------------------------------------------------ running
    def _free_cores(self) -> int:
        return self.cores - sum(part.ranks for part, _ in self.children.values())

    def _launch_fitting(self) -> None:
        for name in self.plan.stages:      # pipeline order: a stage listed earlier gets free cores first
            progress = self.progress.get(name)
            while progress is not None and progress.pending and progress.pending[0].ranks <= self._free_cores():
                part = progress.pending.pop(0)
                cmd = [sys.executable, "-m", "bda_hpc.workflow.job", str(self.run_dir), part.stage.name]
                cmd += ["--gather"] if part.gather else ([] if part.case is None else ["--case", str(part.case)])
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=launch_environment())
                self.children[proc] = (part, time.monotonic())
                progress.running += 1
                self.say(f"start {part.label} ({part.ranks} rank{'s' if part.ranks > 1 else ''})")

    def _collect_finished(self) -> None:
        for proc in [p for p in self.children if p.poll() is not None]:
            part, started = self.children.pop(proc)
            progress = self.progress[part.stage.name]
            progress.running -= 1
            record = read_record(self.run_dir, part.stage.name, part_name(part.case, part.gather))
            if proc.returncode == 0 and record is not None and record.status == DONE:
                self.say(f"done {part.label} ({time.monotonic() - started:.1f} s)")
            else:
                progress.failed = True
                reason = record.reason if record is not None else f"exit code {proc.returncode}, no record"
                self.say(f"FAILED {part.label}: {reason}" + (f" (log: {record.log})" if record else ""))
            self._settle(part.stage, progress)

    def _settle(self, stage: PlannedStage, progress: StageProgress) -> None:
        # a failed case does not stop the other cases of its sweep (a SLURM job array runs them all): whether
        # they ran must not depend on whether a sibling was still running when it failed
        if progress.running or progress.pending:
            return
        if progress.failed:
            self.status[stage.name] = FAILED
        elif not progress.gathered:
            progress.pending.append(Part(stage, gather=True))
            progress.gathered = True
        else:
            self.status[stage.name] = DONE

    def _stop_children(self) -> None:
        for proc in self.children:
            proc.send_signal(signal.SIGTERM)
        for proc in self.children:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def run(self) -> dict[str, str]:
        """Run to the end; returns each stage's final status (done, skipped, failed, cancelled)."""
        last_beat = time.monotonic()
        try:
            while True:
                self._release_ready()
                self._launch_fitting()
                if not self.children:
                    if all(st not in ("waiting", "active") for st in self.status.values()):
                        return dict(self.status)
                    if not any(p.pending for p in self.progress.values()):
                        raise RuntimeError(f"local executor stalled: {self.status}")   # a bug, not bad input
                time.sleep(self.poll_s)
                self._collect_finished()
                if time.monotonic() - last_beat > HEARTBEAT_S and self.children:
                    last_beat = time.monotonic()
                    self.say("running: " + ", ".join(f"{part.label} ({time.monotonic() - t:.0f} s)"
                                                     for part, t in self.children.values()))
        finally:
            self._stop_children()
