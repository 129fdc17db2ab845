"""``bda-hpc status RUN_DIR``: one line per stage: state, job, time, and why a stage failed.

Records (state.py) say what a run did; for parts handed to SLURM that have
not written a final record, the scheduler is asked (squeue, then scontrol, then
sacct where accounting is on) so that a job cancelled because its upstream
failed shows as cancelled with that reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .plan import Plan
from .rundir import RESOLVED
from .state import CANCELLED, DONE, FAILED, RUNNING, SUBMITTED, Record, part_name, read_record


@dataclass
class StageStatus:
    name: str
    state: str              # done, failed, cancelled, running, submitted, partial, pending (never started)
    parts_done: int
    parts: int
    parts_active: int       # parts still submitted or running (a failed sweep may still have some)
    elapsed: float | None
    job_ids: list[str]
    reason: str
    log: str


def _records(run_dir: Path, plan: Plan, name: str) -> list[Record | None]:
    stage = plan.stages[name]
    if stage.cases is None:
        return [read_record(run_dir, name)]
    parts = [read_record(run_dir, name, part_name(i)) for i in range(len(stage.cases))]
    return parts + [read_record(run_dir, name, "gather")]


def _refresh_from_scheduler(records: list[Record | None]) -> None:
    """Replace 'submitted'/'running' by what SLURM says happened to jobs that never wrote a final record."""
    from .slurm import scheduler_states

    live = [r for r in records if r is not None and r.status in (SUBMITTED, RUNNING) and r.job_id]
    if not live:
        return
    states = scheduler_states({r.job_id for r in live})
    for r in live:
        state, reason = states.get(r.job_id, ("", ""))
        if not state:    # SLURM forgot it (MinJobAge) and it never wrote a result
            r.status, r.reason = (CANCELLED, f"job {r.job_id} is gone and never started (cancelled?)") \
                if r.status == SUBMITTED else (FAILED, f"job {r.job_id} ended without recording a result (killed?)")
            continue
        if state in ("PENDING", "CONFIGURING"):
            r.status, r.reason = SUBMITTED, reason
        elif state in ("RUNNING", "COMPLETING"):
            r.status = RUNNING
        elif state.startswith("CANCELLED") or "Dependency" in reason:
            r.status, r.reason = CANCELLED, f"job {r.job_id} {state.lower()}: {reason or 'cancelled'}"
        elif state != "COMPLETED":
            r.status, r.reason = FAILED, f"job {r.job_id} {state.lower()}: {reason}"


def stage_status(run_dir: Path, plan: Plan, name: str, ask_scheduler: bool) -> StageStatus:
    records = _records(run_dir, plan, name)
    whole = read_record(run_dir, name) if plan.stages[name].cases is not None else None
    if ask_scheduler:
        _refresh_from_scheduler(records)
    present = [r for r in records if r is not None]
    states = [r.status for r in present]
    if whole is not None and whole.status == CANCELLED and not present:
        present, states = [whole], [CANCELLED]
    if FAILED in states:
        state = FAILED
    elif CANCELLED in states:
        state = CANCELLED
    elif len(present) == len(records) and all(s == DONE for s in states):
        state = DONE
    elif RUNNING in states:
        state = RUNNING
    elif SUBMITTED in states:
        state = SUBMITTED
    elif DONE in states:
        state = "partial"
    else:
        state = "pending"
    first_bad = next((r for r in present if r.status in (FAILED, CANCELLED)), None)
    times = [r.elapsed for r in present if r.elapsed is not None]
    return StageStatus(
        name=name, state=state, parts_done=states.count(DONE), parts=len(records),
        parts_active=sum(s in (SUBMITTED, RUNNING) for s in states),
        elapsed=sum(times) if times else None, job_ids=sorted({r.job_id for r in present if r.job_id}),
        reason=first_bad.reason if first_bad else "", log=first_bad.log if first_bad else "")


def run_status(run_dir: Path, ask_scheduler: bool | None = None) -> list[StageStatus]:
    run_dir = Path(run_dir).resolve()
    plan = Plan.load(run_dir / RESOLVED)
    if ask_scheduler is None:
        ask_scheduler = (run_dir / "jobs").is_dir()
    return [stage_status(run_dir, plan, name, ask_scheduler) for name in plan.stages]


def format_status(rows: list[StageStatus]) -> str:
    lines = [f"{'stage':<16} {'state':<10} {'parts':>7} {'time':>9}  job"]
    for r in rows:
        elapsed = "" if r.elapsed is None else f"{r.elapsed:.1f} s"
        lines.append(f"{r.name:<16} {r.state:<10} {r.parts_done:>3}/{r.parts:<3} {elapsed:>9}  {','.join(r.job_ids)}")
    for r in rows:
        if r.state in (FAILED, CANCELLED):
            log_line = f"\n  log: {r.log}" if r.log and r.state == FAILED else ""
            lines.append(f"{r.name} {r.state}: {r.reason}{log_line}")
    return "\n".join(lines)
