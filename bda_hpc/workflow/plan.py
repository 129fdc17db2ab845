"""From a pipeline spec to a plan: resolved paths, the stage graph from the files, command lines.

Everything a stage needs to run is resolved here, once, and saved as
``RUN_DIR/resolved.json``: the local executor and SLURM job scripts both run
stages from that file (``python -m bda_hpc.workflow.job``), so a job on a
compute node needs neither the spec nor its relative paths.

All checks that can be made before anything runs are made here: unknown
sub-commands, missing config files, files nobody writes, cycles, parameters
that no upstream stage provides.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .spec import PipelineSpec, StageSpec

SWEEP_TABLE_SUFFIX = "_sweep.h5"


@dataclass
class PlannedStage:
    """One stage with everything resolved to absolute paths (JSON round-trips through resolved.json)."""

    name: str
    argv: list[str]                  # program and arguments, without the MPI launcher and sweep overrides
    ranks: int
    time: str
    memory: str
    out_dir: str
    inputs: list[str]                # parameter files passed as --params, in spec order
    upstream: list[str]              # stages whose outputs this one reads
    outputs: list[str]               # file names it must leave in its out dir (per case for sweeps)
    provides: list[str]
    config: str | None
    cases: list[dict] | None = None  # sweep overrides, one dict per array index; None without a sweep

    @property
    def graph_outputs(self) -> list[str]:
        """The files other stages may read: the sweep table for a sweep, else its outputs."""
        if self.cases is not None:
            return [str(Path(self.out_dir) / f"{self.name}{SWEEP_TABLE_SUFFIX}")]
        return [str(Path(self.out_dir) / name) for name in self.outputs]

    def case_dir(self, case: int | None) -> Path:
        return Path(self.out_dir) if case is None else Path(self.out_dir) / f"case-{case:04d}"

    def case_argv(self, case: int | None) -> list[str]:
        """The command line of one run: sweep runs get their own out dir and --set overrides."""
        if case is None:
            return list(self.argv)
        argv = list(self.argv)
        argv[argv.index("--out-dir") + 1] = str(self.case_dir(case))
        return argv + set_options(self.cases[case])


@dataclass
class Plan:
    name: str
    spec_path: str
    run_dir: str
    cores: int
    stages: dict[str, PlannedStage] = field(default_factory=dict)   # in an order that respects the graph

    def downstream(self, name: str) -> list[str]:
        """Every stage that depends on ``name``, directly or not."""
        found: list[str] = []
        for other in self.stages.values():
            if other.name not in found and (name in other.upstream or set(other.upstream) & set(found)):
                found.append(other.name)
        return found

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Plan:
        if not path.exists():
            raise ConfigError(f"{path}: no resolved pipeline here (is {path.parent} a run directory?)")
        try:
            data = json.loads(path.read_text())
            stages = {name: PlannedStage(**s) for name, s in data.pop("stages").items()}
            return cls(stages=stages, **data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"{path}: not a resolved pipeline this bda_hpc can read ({exc}); start the run "
                              "again in a new --run-dir") from None


def format_value(value) -> str:
    """A config value as a TOML literal, the form stages read back (see overrides.parse_set)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return repr(value)


def set_options(overrides: dict) -> list[str]:
    out: list[str] = []
    for key, value in overrides.items():
        out += ["--set", f"{key}={format_value(value)}"]
    return out


def known_commands() -> set[tuple[str, ...]]:
    """Every runnable ``bda-hpc`` sub-command path, e.g. ('cell',), ('mlff', 'properties')."""
    import argparse

    from ..cli import build_parser

    found: set[tuple[str, ...]] = set()

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if prefix and (not subs or not subs[0].required):
            found.add(prefix)
        for action in subs:
            for name, child in action.choices.items():
                walk(child, prefix + (name,))

    walk(build_parser(), ())
    return found


def _stage_argv(stage: StageSpec, base: Path, where: str, commands: set) -> tuple[list[str], str | None]:
    if stage.command:
        words = tuple(stage.command.split())
        if words not in commands:
            close = sorted(" ".join(c) for c in commands if c[0] == words[0]) or sorted(" ".join(c) for c in commands)
            raise ConfigError(f"{where}: command {stage.command!r} is not a bda-hpc sub-command "
                              f"(available: {', '.join(close)})")
        argv = [sys.executable, "-m", "bda_hpc.cli", *words]
    else:
        script = (base / stage.script).resolve()
        if not script.is_file():
            raise ConfigError(f"{where}: script {script} does not exist")
        argv = [sys.executable, str(script)]
    config = None
    if stage.config:
        config = (base / stage.config).resolve()
        if not config.is_file():
            raise ConfigError(f"{where}: config file {config} does not exist")
        argv += ["--config", str(config)]
    return argv, None if config is None else str(config)


def _producers(spec: PipelineSpec, spec_path: Path) -> dict[str, str]:
    """File name -> the stage that writes it; a name written twice is an error."""
    producers: dict[str, str] = {}
    for stage in spec.stage:
        visible = [f"{stage.name}{SWEEP_TABLE_SUFFIX}"] if stage.sweep else stage.writes
        for name in visible:
            if name in producers:
                raise ConfigError(f"{spec_path}: stages {producers[name]!r} and {stage.name!r} both write {name!r}; "
                                  "a file name must identify one stage")
            producers[name] = stage.name
    return producers


def _check_acyclic(upstream: dict[str, list[str]], spec_path: Path) -> list[str]:
    """A topological order, or a ConfigError naming one cycle."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = path[path.index(name):] + [name]
            raise ConfigError(f"{spec_path}: the stage graph has a cycle: {' -> '.join(cycle)} "
                              "(each reads a file the next one writes)")
        state[name] = "active"
        for up in upstream[name]:
            visit(up, path + [name])
        state[name] = "done"
        order.append(name)

    for name in upstream:
        visit(name, [])
    return order


def _check_needs(spec: PipelineSpec, spec_path: Path, producers: dict, inputs: dict[str, list[str]]) -> None:
    """Every needed parameter must come from a file the stage reads: declared by its writer, or in the file."""
    from ..io.params import read_params

    by_name = {s.name: s for s in spec.stage}
    for stage in spec.stage:
        offered: dict[str, str] = {}
        for read, path in zip(stage.reads, inputs[stage.name]):
            writer = producers.get(read)
            if writer is not None:
                names = by_name[writer].provides if not by_name[writer].sweep else []
                origin = f"{read} from stage {writer!r}"
            else:
                names = read_params(path).names()
                origin = read
            for n in names:
                offered.setdefault(n, origin)
        missing = [n for n in stage.needs if n not in offered]
        if missing:
            have = "; ".join(f"{o}: {', '.join(sorted(n for n in offered if offered[n] == o))}"
                             for o in dict.fromkeys(offered.values())) or "it reads no parameter files"
            raise ConfigError(f"{spec_path}: stage {stage.name!r} needs {', '.join(map(repr, missing))}, which no "
                              f"upstream stage provides ({have})")


def make_plan(spec: PipelineSpec, spec_path: Path, run_dir: Path, cores: int = 0) -> Plan:
    """Resolve and check a spec; raises ConfigError before anything has run."""
    base = spec_path.parent
    run_dir = run_dir.resolve()
    commands = known_commands() if any(s.command for s in spec.stage) else set()
    producers = _producers(spec, spec_path)
    upstream: dict[str, list[str]] = {}
    inputs: dict[str, list[str]] = {}
    for stage in spec.stage:
        where = f"{spec_path}: stage {stage.name!r}"
        upstream[stage.name], inputs[stage.name] = [], []
        for read in stage.reads:
            writer = producers.get(read)
            if writer is not None:
                inputs[stage.name].append(str(run_dir / writer / read))
                if writer not in upstream[stage.name]:
                    upstream[stage.name].append(writer)
                continue
            sweepers = [s.name for s in spec.stage if s.sweep and read in s.writes]
            if sweepers:
                raise ConfigError(f"{where}: reads {read!r}, which sweep stage {sweepers[0]!r} writes once per "
                                  f"case; read the gathered table {sweepers[0]}{SWEEP_TABLE_SUFFIX} instead")
            path = (base / read).resolve()
            if not path.is_file():
                raise ConfigError(f"{where}: reads {read!r}, which no stage writes and which is not an existing "
                                  f"file (looked for {path})")
            inputs[stage.name].append(str(path))
    order = _check_acyclic(upstream, spec_path)
    _check_needs(spec, spec_path, producers, inputs)
    plan = Plan(name=spec.pipeline.name, spec_path=str(spec_path), run_dir=str(run_dir), cores=cores)
    by_name = {s.name: s for s in spec.stage}
    for name in order:
        stage = by_name[name]
        argv, config = _stage_argv(stage, base, f"{spec_path}: stage {name!r}", commands)
        out_dir = run_dir / name
        argv += ["--out-dir", str(out_dir)]
        for path in inputs[name]:
            argv += ["--params", path]
        argv += list(stage.args) + set_options(stage.set)
        plan.stages[name] = PlannedStage(
            name=name, argv=argv, ranks=stage.ranks, time=stage.time, memory=stage.memory,
            out_dir=str(out_dir), inputs=inputs[name], upstream=upstream[name], outputs=list(stage.writes),
            provides=list(stage.provides), config=config,
            cases=stage.sweep.cases() if stage.sweep else None)
    return plan


def check_ranks(plan: Plan, capacity: int, where: str) -> None:
    """No stage may ask for more ranks than the allocation has (one message listing all of them)."""
    over = [f"{s.name!r} asks for {s.ranks}" for s in plan.stages.values() if s.ranks > capacity]
    if over:
        raise ConfigError(f"{plan.spec_path}: more ranks than {where} has ({capacity} cores): {', '.join(over)}")
