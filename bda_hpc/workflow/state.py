"""Run state: one small JSON record per stage run under ``RUN_DIR/state/``.

One file per run (``<stage>.json``, ``<stage>.case-0003.json``, ``<stage>.gather.json``)
because SLURM jobs write their own records at the same time; each record has
exactly one writer at a time, and is replaced atomically.

A stage is up to date when its record says ``done``, the fingerprint of what
it would run now (command line, config text, overrides, input hashes) equals
the recorded one, and its outputs still have the recorded hashes. An upstream
stage that re-runs and writes a different file changes the input hashes of
everything downstream, so they re-run too.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..io.params import file_sha256
from .plan import PlannedStage

DONE, FAILED, RUNNING, SUBMITTED, CANCELLED = "done", "failed", "running", "submitted", "cancelled"


@dataclass
class Record:
    stage: str
    part: str = ""                   # "" for the stage itself, "case-0003" or "gather" for sweep parts
    status: str = SUBMITTED
    fingerprint: str = ""
    outputs: dict = field(default_factory=dict)   # path -> sha256 of what it left behind
    returncode: int | None = None
    reason: str = ""
    log: str = ""
    job_id: str = ""
    host: str = ""
    pid: int | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def elapsed(self) -> float | None:
        return None if self.started is None or self.finished is None else self.finished - self.started


def part_name(case: int | None, gather: bool = False) -> str:
    return "gather" if gather else ("" if case is None else f"case-{case:04d}")


def record_path(run_dir: Path, stage: str, part: str = "") -> Path:
    return Path(run_dir) / "state" / (f"{stage}.{part}.json" if part else f"{stage}.json")


def write_record(run_dir: Path, record: Record) -> None:
    path = record_path(run_dir, record.stage, record.part)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1))
    tmp.replace(path)


def read_record(run_dir: Path, stage: str, part: str = "") -> Record | None:
    path = record_path(run_dir, stage, part)
    if not path.exists():
        return None
    return Record(**json.loads(path.read_text()))


def update_record(run_dir: Path, stage: str, part: str = "", **changes) -> Record:
    record = read_record(run_dir, stage, part) or Record(stage=stage, part=part)
    for key, value in changes.items():
        setattr(record, key, value)
    write_record(run_dir, record)
    return record


def _file_digest(path: str) -> str:
    return file_sha256(path) if os.path.isfile(path) else "missing"


def fingerprint(stage: PlannedStage, case: int | None = None, gather: bool = False) -> str:
    """What determines a run's result: its command line, config text and the content of its inputs."""
    material = {
        "argv": stage.case_argv(case)[1:],   # not the interpreter path: a moved venv changes no result
        "config": _file_digest(stage.config) if stage.config else None,
        "inputs": {p: _file_digest(p) for p in stage.inputs},
        "gather": gather,
    }
    if stage.argv[1] != "-m":                # a script's text is part of what runs
        material["script"] = _file_digest(stage.argv[1])
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def output_hashes(paths: list[str]) -> dict[str, str]:
    return {p: _file_digest(p) for p in paths}


def up_to_date(run_dir: Path, stage: PlannedStage, part: str, expected_fingerprint: str) -> bool:
    record = read_record(run_dir, stage.name, part)
    if record is None or record.status != DONE or record.fingerprint != expected_fingerprint:
        return False
    return all(_file_digest(p) == h for p, h in record.outputs.items())
