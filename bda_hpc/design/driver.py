"""Batches through the batch driver: each batch of design points becomes one driver sweep.

``DriverEvaluator`` writes a one-stage pipeline spec per batch: stage ``simulate`` runs
``bda-hpc design simulate`` (one design point, see cli.py) with a list-mode sweep over the points
(``--set point.<variable>=<value>``), and runs it with the local executor (``bda-hpc run``'s code:
the cases side by side on the cores) or submits it to SLURM (``bda-hpc submit``'s code: one job
array) and waits. Every case's outcome is read back from the driver's own records and the case's
``design_run.h5``, so a failed case comes back as a failed run with the driver's reason while the
other cases of the batch count. Batch specs and run directories (``RUN_ROOT/batch-NNN.toml`` and
``batch-NNN/``) are kept: logs, job scripts and per-case parameter files stay inspectable.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict
from pathlib import Path

log = logging.getLogger("bda_hpc.design")

STAGE = "simulate"
RUN_FILE = "design_run.h5"


def _toml_ready(value):
    """asdict() output without None (TOML has no null): dropped keys fall back to their defaults."""
    if isinstance(value, dict):
        return {k: _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_ready(v) for v in value]
    return value


class DriverEvaluator:
    """Evaluate batches as driver sweeps; ``backend`` "local" or "slurm"."""

    def __init__(self, cfg, run_root: Path, backend: str = "local", cores: int = 0, slurm: dict | None = None,
                 timeout_s: float = 0.0):
        import tomli_w

        self.backend, self.timeout_s = backend, timeout_s
        self.run_root = Path(run_root).resolve()
        self.run_root.mkdir(parents=True, exist_ok=True)
        self.workers = cores or 1
        self.slurm = dict(slurm or {})
        # the design config every case re-reads (one file, so --set overrides given to the loop apply too)
        self.config = self.run_root / "design_config.toml"
        self.config.write_text(tomli_w.dumps({"design": _toml_ready(asdict(cfg))}))

    def _next_run_dir(self) -> Path:
        taken = {p.stem for p in self.run_root.glob("batch-*")}
        k = 1
        while f"batch-{k:03d}" in taken:
            k += 1
        return self.run_root / f"batch-{k:03d}"

    def write_spec(self, run_dir: Path, points: list[dict]) -> Path:
        import tomli_w

        values = {f"point.{name}": [float(p[name]) for p in points] for name in points[0]}
        minutes = max(1, math.ceil(self.timeout_s / 60.0)) if self.timeout_s else 30
        spec = {"pipeline": {"name": run_dir.name, "cores": self.workers, "report": False},
                "stage": [{"name": STAGE, "command": "design simulate", "config": str(self.config),
                           "writes": [RUN_FILE], "ranks": 1, "time": f"{minutes // 60:02d}:{minutes % 60:02d}:00",
                           "sweep": {"mode": "list", "values": values}}]}
        if self.slurm:
            spec["slurm"] = self.slurm
        path = run_dir.with_suffix(".toml")  # beside the run dir: the driver copies it in as pipeline.toml
        path.write_text(tomli_w.dumps(spec))
        return path

    def _run(self, spec_path: Path, run_dir: Path):
        from ..workflow.rundir import prepare

        if self.backend == "slurm":
            from ..workflow.slurm import SlurmExecutor, partition_cores, require_slurm, wait_for
            from ..workflow.spec import load_spec

            require_slurm()
            spec, _ = load_spec(spec_path)
            plan = prepare(spec_path, run_dir, partition_cores(spec.slurm.partition), "the SLURM partition")
            jobs = SlurmExecutor(plan, spec.slurm).submit(report=False)
            log.info("batch %s submitted to SLURM: %s", run_dir.name, ", ".join(j for j in jobs.values() if j))
            limit = self.timeout_s * len(plan.stages[STAGE].cases) or None
            wait_for(run_dir, spec.slurm.poll_seconds, limit)  # returns once every case's record is final
        else:
            from ..workflow.local import LocalExecutor, RunDirLock

            with RunDirLock(run_dir):
                plan = prepare(spec_path, run_dir, self.workers, "the design workers")
                LocalExecutor(plan, self.workers).run()
        return plan.stages[STAGE]

    def __call__(self, problem, points: list[dict]) -> list[tuple]:
        """(outputs or None, message, seconds) per point, in order; never raises for a failed case."""
        from ..io.params import read_params
        from ..workflow.state import DONE, part_name, read_record

        run_dir = self._next_run_dir()
        stage = self._run(self.write_spec(run_dir, points), run_dir)
        results = []
        for case in range(len(points)):
            record = read_record(run_dir, STAGE, part_name(case))
            seconds = (record.elapsed or 0.0) if record is not None else 0.0
            if record is None or record.status != DONE:
                reason = record.reason or f"status {record.status}" if record is not None \
                    else "the driver left no record of this case"
                results.append((None, f"driver case {case} ({run_dir.name}): {reason}", seconds))
                continue
            p = read_params(stage.case_dir(case) / RUN_FILE)
            results.append(({name: p.require(name, units=units) for name, units in problem.outputs.items()},
                             "", seconds))
        return results

    def close(self):
        pass
