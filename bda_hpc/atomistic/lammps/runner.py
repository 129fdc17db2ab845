"""Run LAMMPS as a child process, stream its thermo output, read logs and dumps back.

LAMMPS errors ("ERROR: ..." lines, a non-zero exit) become one SolverError carrying the
LAMMPS message, or InputError when the message is about the input (unknown style, bad
pair_coeff, missing file).
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputError, SolverError
from .environment import LammpsEnv

log = logging.getLogger("bda_hpc.md")
LOOP = re.compile(r"Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms")
INPUT_ERRORS = ("pair_coeff", "Unrecognized", "Cannot open", "plugin", "Illegal", "Unknown", "compiled for")


@dataclass
class ThermoParser:
    """Incremental parser of LAMMPS screen/log output: thermo blocks ("Step ..." to "Loop time")."""

    blocks: list = field(default_factory=list)  # one dict {column: list} per run command
    errors: list = field(default_factory=list)
    loops: list = field(default_factory=list)  # (seconds, ranks, steps, atoms) per run ("Loop time of ...")
    max_rss_mb: list = field(default_factory=list)  # "Maximum resident set size" lines of `info memory`
    cpu_percent: list = field(default_factory=list)  # "x% CPU use" per run: < 100 when the cores are shared
    _columns: list | None = None

    def feed(self, line: str) -> dict | None:
        """Consume one line; returns the thermo row (dict) when the line was one."""
        words = line.split()
        if line.startswith("ERROR") or line.startswith("MPI_ABORT"):
            self.errors.append(line.strip())
        loop = LOOP.match(line)
        if loop:
            self.loops.append((float(loop[1]), int(loop[2]), int(loop[3]), int(loop[4])))
        if "% CPU use with" in line:
            self.cpu_percent.append(float(words[0].rstrip("%")))
        if line.startswith("Maximum resident set size"):
            self.max_rss_mb.append(float(words[-2]))
        if words and words[0] == "Step":
            self._columns = words
            self.blocks.append({c: [] for c in words})
            return None
        if self._columns is None or not words:
            return None
        if words[0] == "Loop" or len(words) != len(self._columns):
            self._columns = None if words[0] == "Loop" else self._columns
            return None
        try:
            values = [float(w) for w in words]
        except ValueError:
            return None
        row = dict(zip(self._columns, values))
        for c, v in row.items():
            self.blocks[-1][c].append(v)
        return row

    def table(self) -> dict[str, np.ndarray]:
        """Thermo rows of all runs by step: a block that starts at step s (a new run, or a resumed one
        from a restart file) replaces the rows at steps >= s logged before it. A column that a block
        lacks (another thermo_style) is NaN in its rows."""
        rows: list[dict] = []
        for block in self.blocks:
            if block["Step"]:
                rows = [r for r in rows if r["Step"] < block["Step"][0]]
                rows += [dict(zip(block, values)) for values in zip(*block.values())]
        columns = list(dict.fromkeys(c for block in self.blocks for c in block))
        return {c: np.array([r.get(c, np.nan) for r in rows]) for c in columns}


def run_lammps(
    env: LammpsEnv,
    script: str,
    workdir: str | Path,
    nprocs: int = 1,
    progress: Callable[[dict], None] | None = None,
    timeout: float | None = None,
    table: bool = True,
):
    """Run ``script`` in ``workdir`` on ``nprocs`` ranks; returns the thermo table (numpy columns),
    or with ``table=False`` the parser (its ``blocks``: one thermo dict per `run` command).

    Every thermo row is passed to ``progress`` as it appears (stdout is line-buffered by -nonbuf).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "in.lmp").write_text(script)
    # -log none: scripts that keep a log say `log log.lammps append` (it survives restarts)
    cmd = [*env.command(nprocs, "in.lmp", "none"), "-nonbuf"]
    parser = ThermoParser()
    tail: list[str] = []
    start = time.monotonic()
    with subprocess.Popen(
        cmd, cwd=workdir, env=env.environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        for line in proc.stdout:
            tail = (tail + [line])[-40:]
            row = parser.feed(line)
            if row is not None and progress is not None:
                progress(row)
            if timeout and time.monotonic() - start > timeout:
                proc.kill()
                raise SolverError(f"LAMMPS in {workdir} ran past {timeout:.0f} s and was stopped")
        rc = proc.wait()
    if rc != 0 or parser.errors:
        message = parser.errors[0] if parser.errors else "".join(tail[-15:])
        kind = InputError if any(k in message for k in INPUT_ERRORS) else SolverError
        raise kind(f"LAMMPS failed in {workdir} (exit {rc}): {message}")
    return parser.table() if table else parser


def read_dump_frames(path: str | Path) -> list[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
    """Every frame of a `dump custom` text file: (step, box bounds rows, {column: array sorted by id})."""
    lines = Path(path).read_text().splitlines()
    starts = [k for k, line in enumerate(lines) if line.startswith("ITEM: TIMESTEP")]
    if not starts:
        raise SolverError(f"{path}: no frame in dump file")
    frames = []
    for k in starts:
        natoms = int(lines[k + 3])
        box = np.array([[float(w) for w in lines[k + 5 + d].split()] for d in range(3)])
        columns = lines[k + 8].split()[2:]
        data = np.array([[float(w) for w in line.split()] for line in lines[k + 9 : k + 9 + natoms]])
        data = data.reshape(natoms, len(columns))
        data = data[np.argsort(data[:, columns.index("id")])] if "id" in columns else data
        frames.append((int(lines[k + 1]), box, {c: data[:, j] for j, c in enumerate(columns)}))
    return frames


def read_dump(path: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Last frame of a `dump custom` text file: (box bounds rows, {column: array sorted by id})."""
    _step, box, columns = read_dump_frames(path)[-1]
    return box, columns


def read_log(path: str | Path) -> dict[str, np.ndarray]:
    """The thermo table of a log.lammps (all runs, also across restarts appended to the same log)."""
    parser = ThermoParser()
    for line in Path(path).read_text().splitlines():
        parser.feed(line)
    return parser.table()
