"""``bda-hpc run | submit | status | report``: the batch driver's commands."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("bda_hpc.workflow")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("pipeline", nargs="?", type=Path, metavar="PIPELINE.toml",
                   help="pipeline spec (optional with --resume: the run directory knows its spec)")
    p.add_argument("--run-dir", type=Path, metavar="DIR",
                   help="run directory (default: runs/<pipeline name>); an existing one is updated in place")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --run-dir (re-reads its spec and configs; finished stages stay)")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")


def register(sub, common) -> None:
    run = sub.add_parser(
        "run", parents=[common], help="run a pipeline on this machine (stages side by side as cores allow)",
        description="Run every stage of PIPELINE.toml here, under mpiexec at each stage's ranks. Stages whose "
                    "outputs exist and whose inputs have not changed are skipped; a failed stage cancels its "
                    "dependants. Writes RUN_DIR/report/report.html at the end.")
    _add_run_options(run)
    run.add_argument("--cores", type=int, default=0,
                     help="cores to use at once (default: [pipeline] cores, else all this machine/allocation has)")
    run.set_defaults(handler=run_handler)

    submit = sub.add_parser(
        "submit", parents=[common], help="submit a pipeline to SLURM (one job per stage, job arrays for sweeps)",
        description="Render job scripts from jobscripts/ into RUN_DIR/jobs/ and submit them with "
                    "--dependency=afterok; follow them with `bda-hpc status RUN_DIR`.")
    _add_run_options(submit)
    submit.add_argument("--scheduler", choices=["slurm"], default="slurm", help="batch system (default: slurm)")
    submit.add_argument("--single-job", action="store_true",
                        help="submit the whole pipeline as one job (jobscripts/pipeline.sbatch) that runs the "
                             "local executor in its allocation")
    submit.add_argument("--wait", action="store_true", help="wait until every job has ended; exit 1 if one failed")
    submit.add_argument("--timeout", type=float, help="with --wait: give up after this many seconds")
    submit.set_defaults(handler=submit_handler)

    status = sub.add_parser("status", parents=[common], help="state of each stage of a run, and why one failed")
    status.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    status.set_defaults(handler=status_handler)

    report = sub.add_parser("report", parents=[common], help="(re)write the HTML/Markdown report of a run")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.set_defaults(handler=report_handler)


def _spec_and_run_dir(args) -> tuple[Path, Path]:
    from ..errors import ConfigError
    from .rundir import default_run_dir, spec_to_resume

    if args.resume:
        if args.run_dir is None:
            raise ConfigError("--resume needs --run-dir DIR (the run to continue)")
        return args.pipeline or spec_to_resume(args.run_dir), args.run_dir
    if args.pipeline is None:
        raise ConfigError("give the pipeline spec (PIPELINE.toml), or --resume --run-dir DIR")
    return args.pipeline, args.run_dir or default_run_dir(args.pipeline)


def _finish(run_dir: Path, write: bool) -> int:
    from .report import write_report
    from .status import format_status, run_status

    rows = run_status(run_dir)
    print(format_status(rows), flush=True)
    if write:
        print(f"report: {write_report(run_dir)}", flush=True)
    return 0 if all(r.state == "done" for r in rows) else 1


def run_handler(args) -> int:
    from ..errors import BdaError
    from .local import LocalExecutor, RunDirLock, available_cores
    from .rundir import prepare
    from .spec import load_spec

    spec_path, run_dir = _spec_and_run_dir(args)
    spec, _ = load_spec(spec_path)
    cores = args.cores or spec.pipeline.cores or available_cores()
    with RunDirLock(run_dir):
        where = "--cores" if args.cores else ("[pipeline] cores" if spec.pipeline.cores else "this machine")
        plan = prepare(spec_path, run_dir, cores, where)
        log.info("pipeline %s: %d stages on %d cores, run directory %s", plan.name, len(plan.stages), cores,
                 plan.run_dir)
        try:
            LocalExecutor(plan, cores).run()
        except KeyboardInterrupt:
            raise BdaError(f"interrupted; `bda-hpc run --resume --run-dir {run_dir}` redoes the stages that "
                           "were running and goes on", collective=True) from None
    return _finish(Path(plan.run_dir), write=spec.pipeline.report and not args.no_report)


def submit_handler(args) -> int:
    from ..errors import BdaError
    from .plan import Plan
    from .rundir import RESOLVED, prepare
    from .slurm import SlurmExecutor, active_jobs, partition_cores, require_slurm, wait_for
    from .spec import load_spec

    spec_path, run_dir = _spec_and_run_dir(args)
    spec, _ = load_spec(spec_path)
    require_slurm()
    if (run_dir / RESOLVED).exists():
        busy = active_jobs(run_dir.resolve(), Plan.load(run_dir / RESOLVED))
        if busy:
            raise BdaError(f"{run_dir}: jobs of an earlier submission are still queued or running: "
                           f"{', '.join(busy)}; wait for them or scancel them first", collective=True)
    cores = partition_cores(spec.slurm.partition)
    plan = prepare(spec_path, run_dir, cores, f"SLURM partition {spec.slurm.partition or '(default)'}")
    executor = SlurmExecutor(plan, spec.slurm)
    if args.single_job:
        print(f"submitted the pipeline as job {executor.submit_single_allocation(Path(plan.spec_path), cores)}")
        return 0
    jobs = executor.submit(report=spec.pipeline.report and not args.no_report)
    for stage, job in jobs.items():
        print(f"{stage:<16} {job or 'up to date'}")
    print(f"follow with: bda-hpc status {plan.run_dir}", flush=True)
    if not args.wait:
        return 0
    wait_for(Path(plan.run_dir), spec.slurm.poll_seconds, args.timeout)
    return _finish(Path(plan.run_dir), write=False)


def status_handler(args) -> int:
    from .status import format_status, run_status

    print(format_status(run_status(args.run_dir)))
    return 0


def report_handler(args) -> int:
    from .report import write_report

    print(f"report: {write_report(args.run_dir)}")
    return 0
