"""The cell record and the readers of the shared ageing data sets.

Every reader reports each cell file it reads to :func:`note_read`; tests use
:func:`record_reads` to prove which files a fit or a hyper-parameter search
touched (test cells must never be read while fitting or selecting).
"""
from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

END_OF_LIFE_AH = 0.88          # 80 % of the 1.1 Ah nominal capacity of both cell types
SEVERSON_SPLITS = ("train", "test1", "test2")
SEVERSON_VOLTAGE = np.linspace(3.6, 2.0, 1000)   # the grid of the Attia et al. export (V, descending)
SEVERSON_CYCLES = np.arange(2, 101)              # columns of each cellN.csv


@dataclass
class Cell:
    """One cell's measurements: per-cycle summary and optional per-cycle Q(V) curves (SI-ish: Ah, V)."""

    cell_id: str
    cycle: np.ndarray                      # cycle numbers (int)
    discharge_capacity: np.ndarray         # Ah, one per cycle
    group: str = ""                        # split ("train", "test1", ...) or fleet ("T25", ...)
    cycle_life: float | None = None        # cycles to END_OF_LIFE_AH, when known
    temperature_c: float | None = None
    qv_voltage: np.ndarray | None = None   # V, the common voltage grid of the curves
    qv_cycle: np.ndarray | None = None     # cycle number of each curve
    qv_capacity: np.ndarray | None = None  # Ah, shape (len(qv_cycle), len(qv_voltage))
    source: str = ""
    notes: dict = field(default_factory=dict)

    def curve(self, cycle: int) -> np.ndarray:
        """Q(V) of one cycle; a clear error naming the cell when it is missing."""
        if self.qv_capacity is None:
            raise InputError(f"cell {self.cell_id}: no Q(V) curves in {self.source or 'the data'}")
        hit = np.flatnonzero(self.qv_cycle == cycle)
        if hit.size == 0:
            have = f"{self.qv_cycle.min()}..{self.qv_cycle.max()}" if self.qv_cycle.size else "none"
            raise InputError(f"cell {self.cell_id}: no Q(V) curve for cycle {cycle} (curves for cycles {have})")
        return self.qv_capacity[hit[0]]


# --- read recorder ----------------------------------------------------------------------------------
_recorders: list[list[str]] = []


def note_read(path: str | Path) -> None:
    """Tell every active :func:`record_reads` block that ``path`` was read."""
    for rec in _recorders:
        rec.append(str(path))


@contextlib.contextmanager
def record_reads():
    """``with record_reads() as paths:`` collects every cell file read (cached or not) inside the block."""
    paths: list[str] = []
    _recorders.append(paths)
    try:
        yield paths
    finally:
        _recorders.remove(paths)


# --- Severson / Attia (124 LFP cells) ---------------------------------------------------------------
def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InputError(f"{what}: directory {path} does not exist (set data_dir in the [lifetime] config)")
    return path


@functools.lru_cache(maxsize=512)
def _read_qv_csv(path: str) -> np.ndarray:
    try:
        array = np.loadtxt(path, delimiter=",", dtype=float)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a comma-separated numeric array: {exc}") from None
    if array.shape != (SEVERSON_VOLTAGE.size, SEVERSON_CYCLES.size):
        raise InputError(f"{path}: expected a {SEVERSON_VOLTAGE.size} x {SEVERSON_CYCLES.size} array "
                         f"(voltages x cycles 2..100), got {array.shape}")
    array.setflags(write=False)
    return array


def severson_cell_count(root: Path, split: str) -> int:
    folder = _require_dir(Path(root) / split, f"severson split {split!r}")
    return len(list(folder.glob("cell*.csv")))


def read_severson_split(root: str | Path, split: str) -> list[Cell]:
    """All cells of one split (``train``, ``test1`` or ``test2``) with their cycle lives."""
    if split not in SEVERSON_SPLITS:
        raise InputError(f"severson: unknown split {split!r} (use one of {', '.join(SEVERSON_SPLITS)})")
    root = _require_dir(Path(root), "severson data")
    n = severson_cell_count(root, split)
    lives_path = root / "cycle_lives" / f"{split}_cycle_lives.csv"
    if not lives_path.is_file():
        raise InputError(f"severson: cycle lives {lives_path} missing")
    lives = np.atleast_1d(np.loadtxt(lives_path))
    if lives.size != n:
        raise InputError(f"{lives_path}: {lives.size} cycle lives for {n} cells in {root / split}")
    cells = []
    for k in range(1, n + 1):
        path = root / split / f"cell{k}.csv"
        if not path.is_file():
            raise InputError(f"severson {split}: cell{k}.csv missing (cells must be numbered 1..{n})")
        note_read(path)
        q = _read_qv_csv(str(path)).T            # (cycle, voltage)
        cells.append(Cell(
            cell_id=f"{split}/cell{k}", cycle=SEVERSON_CYCLES.copy(),
            discharge_capacity=q[:, -1].copy(),  # Q at 2.0 V, the end of discharge
            group=split, cycle_life=float(lives[k - 1]),
            qv_voltage=SEVERSON_VOLTAGE.copy(), qv_cycle=SEVERSON_CYCLES.copy(), qv_capacity=q,
            source=str(path)))
    return cells


# --- Sunwoda / Tao (32 NCM811 cells) ----------------------------------------------------------------
_SHEET = re.compile(r"^B(\d+)T(\d+)$")


def first_crossing(capacity: np.ndarray, cycle: np.ndarray, threshold: float = END_OF_LIFE_AH) -> float | None:
    """First cycle where the 5-cycle running median falls below ``threshold`` (robust to single glitches)."""
    from scipy.ndimage import median_filter

    smooth = median_filter(capacity, size=5, mode="nearest")
    below = np.flatnonzero(smooth < threshold)
    return float(cycle[below[0]]) if below.size else None


@functools.lru_cache(maxsize=4)
def _read_labels(path: str) -> tuple:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is in tools/requirements.txt
        raise InputError("reading Labels.xlsx needs openpyxl (pip install openpyxl)") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types
        raise InputError(f"{path}: not a readable .xlsx workbook: {exc}") from None
    sheets = []
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        sheets.append((sheet.title, rows))
    book.close()
    return tuple(sheets)


def read_sunwoda(root: str | Path) -> list[Cell]:
    """The 32 cells of ``Labels.xlsx``: capacity per cycle, temperature from the sheet name ``B<k>T<°C>``."""
    path = Path(_require_dir(Path(root), "sunwoda data")) / "Labels.xlsx"
    if not path.is_file():
        raise InputError(f"sunwoda: {path} missing")
    note_read(path)
    cells = []
    for title, rows in _read_labels(str(path)):
        match = _SHEET.match(title.strip())
        if not match:
            raise InputError(f"{path}: sheet {title!r} is not named B<k>T<temperature>")
        if not rows or str(rows[0][0]).strip().lower() != "capacity":
            raise InputError(f"{path}: sheet {title!r}: first cell must be the header 'Capacity'")
        values = [r[0] for r in rows[1:] if r and r[0] is not None]
        try:
            capacity = np.asarray(values, dtype=float)
        except ValueError:
            raise InputError(f"{path}: sheet {title!r}: non-numeric capacity values") from None
        cycle = np.arange(1, capacity.size + 1)
        temperature = float(match.group(2))
        cells.append(Cell(
            cell_id=title.strip(), cycle=cycle, discharge_capacity=capacity, group=f"T{match.group(2)}",
            cycle_life=first_crossing(capacity, cycle), temperature_c=temperature, source=str(path)))
    return cells
