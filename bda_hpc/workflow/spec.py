"""The pipeline spec: a TOML file of stages, parsed into dataclasses with clear errors.

::

    [pipeline]
    name = "demo"
    cores = 2                       # local executor: cores in use at once (0: all this machine has)

    [slurm]                         # only `bda-hpc submit` reads this table
    partition = "debug"

    [[stage]]
    name = "atomistic"
    command = "mlff properties"     # a bda-hpc sub-command ... (or script = "tool.py", run by python)
    config = "mlff_li.toml"         # relative to this file
    args = ["--model", "li.h5"]     # extra arguments after --config/--out-dir/--params
    writes = ["li_metal.h5"]        # files it leaves in its out dir RUN_DIR/<name>/
    provides = ["surface_energy_110"]   # parameters those files hold (checked after it runs)
    ranks = 1
    time = "00:10:00"
    memory = "2G"

    [[stage]]
    name = "phasefield"
    command = "phasefield"
    reads = ["li_metal.h5"]         # another stage's output (by file name) or a path to an existing file
    needs = ["surface_energy_110"]  # parameters it needs from what it reads (checked before anything runs)
    set = { "solver.steps" = 10 }   # fixed overrides, passed as --set key=value
    [stage.sweep]                   # optional: one run per point, gathered into <name>_sweep.h5
    mode = "grid"                   # grid: every combination; list: the i-th value of every key together
    values = { "model.alpha" = [0.1, 1.0] }
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config import from_dict, read_toml
from ..errors import ConfigError

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
TIME_PATTERN = re.compile(r"^(\d+-)?\d{1,2}:\d{2}:\d{2}$|^\d+$")
MEMORY_PATTERN = re.compile(r"^\d+[KMGT]?$")


@dataclass
class SweepSpec:
    """Config overrides to run a stage at: every combination (grid) or zipped lists (list)."""

    values: dict = field(default_factory=dict)
    mode: Literal["grid", "list"] = "grid"

    def validate(self) -> list[str]:
        problems = []
        if not self.values:
            problems.append("values: a sweep needs at least one key with a list of values")
        for key, vals in self.values.items():
            if not KEY_PATTERN.match(key):
                problems.append(f"values: {key!r} is not a config key like 'section.key'")
            if not isinstance(vals, list) or not vals:
                problems.append(f"values.{key}: expected a non-empty list, got {vals!r}")
        lengths = {len(v) for v in self.values.values() if isinstance(v, list)}
        if self.mode == "list" and len(lengths) > 1:
            problems.append(f"values: mode 'list' needs lists of equal length, got lengths {sorted(lengths)}")
        return problems

    def cases(self) -> list[dict]:
        """One dict of overrides per run, in a fixed order (the array index of each)."""
        keys = list(self.values)
        if self.mode == "list":
            return [dict(zip(keys, combo)) for combo in zip(*self.values.values())]
        return [dict(zip(keys, combo)) for combo in itertools.product(*self.values.values())]


@dataclass
class StageSpec:
    """One stage: what to run, on how many ranks, and which files it reads and writes."""

    name: str
    command: str = ""
    script: str = ""
    config: str = ""
    args: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    set: dict = field(default_factory=dict)
    ranks: int = 1
    time: str = "00:30:00"
    memory: str = "2G"
    sweep: SweepSpec | None = None

    def validate(self) -> list[str]:
        problems = []
        if not NAME_PATTERN.match(self.name):
            problems.append(f"name: {self.name!r} must start with a letter and hold only letters, digits, _ and -")
        if bool(self.command) == bool(self.script):
            problems.append("command/script: give exactly one (a bda-hpc sub-command or a python script)")
        if self.ranks < 1:
            problems.append(f"ranks: must be at least 1, got {self.ranks}")
        if not TIME_PATTERN.match(self.time):
            problems.append(f"time: {self.time!r} is not a wall time like '00:30:00', '1-00:00:00' or minutes")
        if not MEMORY_PATTERN.match(self.memory):
            problems.append(f"memory: {self.memory!r} is not an amount like '2G' or '500M'")
        for key in self.set:
            if not KEY_PATTERN.match(key):
                problems.append(f"set: {key!r} is not a config key like 'section.key'")
        for name in self.writes:
            if "/" in name or name in ("", ".", ".."):
                problems.append(f"writes: {name!r} must be a plain file name (outputs land in the stage's out dir)")
        return problems


@dataclass
class PipelineOptions:
    name: str = "pipeline"
    cores: int = 0
    report: bool = True

    def validate(self) -> list[str]:
        return [] if self.cores >= 0 else [f"cores: must be 0 (all) or positive, got {self.cores}"]


@dataclass
class SlurmOptions:
    """What `bda-hpc submit` adds to every job script."""

    partition: str = ""
    account: str = ""
    sbatch_args: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    poll_seconds: float = 5.0


@dataclass
class PipelineSpec:
    stage: list[StageSpec]
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    slurm: SlurmOptions = field(default_factory=SlurmOptions)

    def validate(self) -> list[str]:
        if not self.stage:
            return ["stage: the pipeline has no [[stage]] tables"]
        seen, problems = set(), []
        for s in self.stage:
            if s.name in seen:
                problems.append(f"stage: two stages are named {s.name!r}")
            seen.add(s.name)
        return problems


def load_spec(path: str | Path) -> tuple[PipelineSpec, Path]:
    """Parse a pipeline file; returns the spec and the file's absolute path."""
    path = Path(path).resolve()
    data = read_toml(path)
    if "stage" in data and not isinstance(data["stage"], list):
        raise ConfigError(f"{path}: 'stage' must be an array of tables ([[stage]])")
    return from_dict(PipelineSpec, data, str(path)), path
