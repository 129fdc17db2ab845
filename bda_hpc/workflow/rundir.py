"""The run directory: resolve the spec into it, or find what to resume.

::

    RUN_DIR/
      pipeline.toml        the spec as given          resolved.json   the plan every job runs from
      configs/<stage>.toml the stage configs as run   state/*.json    one record per stage run
      logs/<stage>.log     each run's output          <stage>/        each stage's outputs (case-NNNN/ for sweeps)
      jobs/*.sbatch        rendered job scripts (SLURM)  report/      report.html, report.md, *.png

Nothing in an existing run directory changes until the new spec has passed
every check (plan.make_plan), so a bad edit cannot damage a finished run.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ConfigError
from .plan import Plan, check_ranks, make_plan
from .spec import load_spec

RESOLVED = "resolved.json"


def spec_to_resume(run_dir: Path) -> Path:
    """The spec a previous run in ``run_dir`` was started from (re-read, so a fixed config takes effect)."""
    resolved = Path(run_dir) / RESOLVED
    if not resolved.exists():
        raise ConfigError(f"--resume: {run_dir} holds no earlier run (no {RESOLVED}); start one with "
                          "`bda-hpc run PIPELINE.toml --run-dir DIR`")
    return Path(Plan.load(resolved).spec_path)


def default_run_dir(spec_path: Path) -> Path:
    spec, _ = load_spec(spec_path)
    return Path("runs") / spec.pipeline.name


def prepare(spec_path: Path, run_dir: Path, capacity: int, where: str) -> Plan:
    """Check the spec against ``capacity`` cores, then write it and the resolved plan into ``run_dir``."""
    spec, spec_path = load_spec(spec_path)
    plan = make_plan(spec, spec_path, run_dir, cores=capacity)
    check_ranks(plan, capacity, where)
    run = Path(plan.run_dir)
    (run / "configs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec_path, run / "pipeline.toml")
    for stage in plan.stages.values():
        if stage.config:
            shutil.copyfile(stage.config, run / "configs" / f"{stage.name}.toml")
    plan.save(run / RESOLVED)
    return plan
