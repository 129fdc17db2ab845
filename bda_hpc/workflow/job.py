"""Run one part of a resolved pipeline and record how it went.

``python -m bda_hpc.workflow.job RUN_DIR STAGE [--case N | --gather]``

The local executor starts this as a child process and SLURM job scripts run
it inside the allocation, so both follow one code path: write a ``running``
record, run the stage under ``mpiexec`` with its output in
``RUN_DIR/logs/``, check that it left the files and parameters it declared,
write a ``done`` or ``failed`` record with the reason, exit with the stage's
code. SIGTERM (scancel, a time limit) or SIGINT (Ctrl-C) stops the stage and
records why.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import BdaError
from ..launch import launch_environment, mpiexec_command
from .plan import Plan, PlannedStage
from .state import DONE, FAILED, RUNNING, Record, fingerprint, output_hashes, part_name, write_record


class Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise Terminated(f"stopped by {signal.Signals(signum).name} (scancel, time limit, Ctrl-C or the driver)")


def log_path(run_dir: Path, stage: str, part: str) -> Path:
    return run_dir / "logs" / (f"{stage}.{part}.log" if part else f"{stage}.log")


def failure_reason(log: Path, returncode: int) -> str:
    """The stage's own error line if it printed one (bda-hpc prints 'error: ...'), else its last line."""
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("$ ")]
    errors = [ln for ln in lines if ln.lower().startswith("error") or "Error:" in ln]
    detail = errors[-1] if errors else (lines[-1] if lines else "no output")
    return f"exit code {returncode}: {detail[:300]}"


def missing_outputs(stage: PlannedStage, case: int | None) -> str:
    """What the stage promised and did not deliver ('' when all is there)."""
    from ..io.params import read_params

    out_dir = stage.case_dir(case)
    absent = [name for name in stage.outputs if not (out_dir / name).is_file()]
    if absent:
        return f"finished but did not write {', '.join(absent)} into {out_dir}"
    found: set[str] = set()
    for name in stage.outputs:
        if name.endswith(".h5"):
            try:
                found |= set(read_params(out_dir / name).names())
            except BdaError:
                continue   # an HDF5 output that is not a parameter file (fields, a model)
    lacking = [p for p in stage.provides if p not in found]
    if lacking:
        return (f"its outputs lack the declared parameter(s) {', '.join(lacking)} "
                f"(they hold: {', '.join(sorted(found))})")
    return ""


def stage_command(stage: PlannedStage, case: int | None) -> list[str]:
    argv = stage.case_argv(case)
    # inside a SLURM allocation Open MPI pins ranks to the cores SLURM gave the job; the local executor runs
    # stages side by side, where Open MPI would pin each of them to the machine's same first cores
    in_allocation = "SLURM_JOB_ID" in os.environ
    return mpiexec_command(stage.ranks, bind=in_allocation) + argv if stage.ranks > 1 else argv


def _run_stage(stage: PlannedStage, case: int | None, log: Path) -> tuple[int, str]:
    stage.case_dir(case).mkdir(parents=True, exist_ok=True)
    env = launch_environment(PYTHONUNBUFFERED="1")
    with log.open("w") as fh:
        fh.write("$ " + " ".join(stage_command(stage, case)) + "\n")
        fh.flush()
        proc = subprocess.Popen(stage_command(stage, case), stdout=fh, stderr=subprocess.STDOUT, env=env)
        try:
            returncode = proc.wait()
        except Terminated:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    if returncode != 0:
        return returncode, failure_reason(log, returncode)
    problem = missing_outputs(stage, case)
    return (1, problem) if problem else (0, "")


def run_job(run_dir: Path, stage_name: str, case: int | None = None, gather: bool = False) -> int:
    run_dir = Path(run_dir).resolve()
    plan = Plan.load(run_dir / "resolved.json")
    stage = plan.stages[stage_name]
    part = part_name(case, gather)
    log = log_path(run_dir, stage_name, part)
    log.parent.mkdir(parents=True, exist_ok=True)
    array_task = f"{os.environ.get('SLURM_ARRAY_JOB_ID')}_{os.environ.get('SLURM_ARRAY_TASK_ID')}"
    record = Record(stage=stage_name, part=part, status=RUNNING, fingerprint=fingerprint(stage, case, gather),
                    log=str(log), job_id=array_task if "SLURM_ARRAY_JOB_ID" in os.environ
                    else os.environ.get("SLURM_JOB_ID", ""), host=socket.gethostname(),
                    pid=os.getpid(), started=time.time())
    write_record(run_dir, record)
    previous = {sig: signal.signal(sig, _on_sigterm) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if gather:
            from .sweep import gather_sweep

            outputs = [str(gather_sweep(stage))]
            returncode, reason = 0, ""
        else:
            returncode, reason = _run_stage(stage, case, log)
            outputs = [str(stage.case_dir(case) / name) for name in stage.outputs]
    except (Terminated, BdaError, OSError) as exc:
        returncode, reason, outputs = 1, str(exc), []
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    record.status = DONE if returncode == 0 else FAILED
    record.returncode, record.reason, record.finished = returncode, reason, time.time()
    record.outputs = output_hashes(outputs) if returncode == 0 else {}
    write_record(run_dir, record)
    if returncode != 0:
        print(f"error: stage {stage_name!r}{' ' + part if part else ''} failed: {reason} (log: {log})",
              file=sys.stderr, flush=True)
    return returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bda_hpc.workflow.job", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("stage")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--case", type=int, help="sweep case index (SLURM_ARRAY_TASK_ID in an array job)")
    which.add_argument("--gather", action="store_true", help="gather a finished sweep into its table")
    args = parser.parse_args(argv)
    return run_job(args.run_dir, args.stage, args.case, args.gather)


if __name__ == "__main__":
    sys.exit(main())
