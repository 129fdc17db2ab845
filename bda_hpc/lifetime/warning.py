"""Early warning: flag cells whose capacity fade departs from their fleet.

At check cycles n = start, start+step, ... a cell's two indicators — capacity
lost since its first 10 cycles, and fade rate over the last 50 cycles — are
compared with the same indicators of the *other* cells of its fleet at the
same cycle (robust z-score: median and MAD; the fleet is the cells at the
same temperature, or all cells). Only data up to cycle n is used, so the rule
is causal. A cell is flagged at the first check where either z-score has
exceeded the threshold for ``consecutive`` checks in a row, as long as the
cell is still above end of life. Evaluation: for the shortest-lived quarter
of each fleet, the lead (cycles from flag to end of life); for the rest, the
false-alarm rate (flagged at all before their end of life).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Cell
from .trajectory import clean_trajectory


@dataclass
class WarningConfig:
    fleet: str = "temperature"     # "temperature" or "all"
    start: int = 100
    step: int = 25
    threshold: float = 3.0         # robust z-score
    consecutive: int = 2
    min_spread_ah: float = 0.002   # floor of the fleet spread of capacity loss (Ah)
    min_spread_rate: float = 0.01   # floor of the fleet spread of fade rate (Ah per 1000 cycles; > slope noise)
    baseline_drop: float = 0.10    # fleet-free baseline: flag at this fractional capacity drop (half-way to EoL)
    spread_seeds: int = 20         # random 75 % subsets of each fleet for the spread of the figures

    def validate(self) -> list[str]:
        problems = []
        if self.fleet not in ("temperature", "all"):
            problems.append(f"fleet: use 'temperature' or 'all', got {self.fleet!r}")
        if self.start < 60 or self.step < 1:
            problems.append(f"start/step: need start >= 60 and step >= 1, got {self.start}/{self.step}")
        if self.threshold <= 0 or self.consecutive < 1:
            problems.append("threshold/consecutive: must be positive")
        if not 0 < self.baseline_drop < 0.2 or self.spread_seeds < 2:
            problems.append(f"baseline_drop/spread_seeds: need 0 < baseline_drop < 0.2 (EoL is a 20 % drop) and "
                            f">= 2 seeds, got {self.baseline_drop}/{self.spread_seeds}")
        return problems


def indicators(q: np.ndarray, n: int) -> tuple[float, float]:
    """(capacity lost since the first 10 cycles (Ah), fade rate over cycles n−49..n (Ah/1000 cycles))."""
    if q.size < n or not np.isfinite(q[n - 10:n]).any():
        return np.nan, np.nan
    window = np.arange(n - 49, n + 1)
    y = q[window - 1]
    ok = np.isfinite(y)
    rate = -1000.0 * np.polyfit(window[ok], y[ok], 1)[0] if ok.sum() >= 10 else np.nan
    return float(np.nanmedian(q[:10]) - np.nanmedian(q[n - 10:n])), float(rate)


def _robust_z(value: float, others: np.ndarray, floor: float) -> float:
    others = others[np.isfinite(others)]
    if others.size < 3 or not np.isfinite(value):
        return 0.0
    med = np.median(others)
    return float((value - med) / max(1.4826 * np.median(np.abs(others - med)), floor))


def fleets(cells: list[Cell], cfg: WarningConfig) -> np.ndarray:
    return np.array([c.group if cfg.fleet == "temperature" else "all" for c in cells])


def run_warnings(cells: list[Cell], cfg: WarningConfig) -> dict:
    """Flag cycle per cell (None when never flagged before end of life) and the evaluation."""
    qs = [clean_trajectory(c) for c in cells]
    fleet = fleets(cells, cfg)
    last = max(q.size for q in qs)
    checks = np.arange(cfg.start, last + 1, cfg.step)
    ind = np.array([[indicators(q, n) for n in checks] for q in qs])       # (cells, checks, 2)
    flag_cycle: list[float | None] = []
    z_max = np.zeros((len(cells), checks.size))
    for i, cell in enumerate(cells):
        same = np.flatnonzero((fleet == fleet[i]) & (np.arange(len(cells)) != i))
        run, flagged = 0, None
        for k, n in enumerate(checks):
            if cell.cycle_life is not None and n >= cell.cycle_life:
                break
            z = max(_robust_z(ind[i, k, 0], ind[same, k, 0], cfg.min_spread_ah),
                    _robust_z(ind[i, k, 1], ind[same, k, 1], cfg.min_spread_rate))
            z_max[i, k] = z
            run = run + 1 if z > cfg.threshold else 0
            if run >= cfg.consecutive:
                flagged = float(n)
                break
        flag_cycle.append(flagged)
    return {"checks": checks, "flag_cycle": flag_cycle, "z_max": z_max, **evaluate(cells, fleet, flag_cycle)}


def capacity_drop_rule(cells: list[Cell], cfg: WarningConfig, drop_fraction: float) -> dict:
    """Baseline without a fleet: flag at the first check where capacity (10-cycle median) has fallen by
    ``drop_fraction`` of its first-10-cycle median, on the same check schedule and evaluation."""
    flag_cycle = []
    for cell in cells:
        q, flagged = clean_trajectory(cell), None
        for n in range(cfg.start, q.size + 1, cfg.step):
            if cell.cycle_life is not None and n >= cell.cycle_life:
                break
            if np.nanmedian(q[n - 10:n]) < (1 - drop_fraction) * np.nanmedian(q[:10]):
                flagged = float(n)
                break
        flag_cycle.append(flagged)
    return {"flag_cycle": flag_cycle, **evaluate(cells, fleets(cells, cfg), flag_cycle)}


def subsample_spread(cells: list[Cell], cfg: WarningConfig, rule, seeds: list[int], keep: float = 0.75) -> dict:
    """Detected fraction, median lead and false-alarm rate when the rule is rerun on random subsets of each
    fleet (``keep`` of its cells, seeds ``seeds``): how much the figures depend on which cells are in the fleet."""
    fleet = fleets(cells, cfg)
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        picked = np.sort(np.concatenate([rng.choice(np.flatnonzero(fleet == f), size=max(4, int(round(
            keep * np.sum(fleet == f)))), replace=False) for f in np.unique(fleet)]))
        res = rule([cells[i] for i in picked])
        rows.append([res["detected_fraction"], res["median_lead_cycles"], res["false_alarm_rate"]])
    rows = np.asarray(rows, dtype=float)
    names = ("detected_fraction", "median_lead_cycles", "false_alarm_rate")
    return {"seeds": list(seeds), "keep_fraction": keep,
            **{n: (float(np.nanmean(rows[:, k])), float(np.nanstd(rows[:, k]))) for k, n in enumerate(names)}}


def short_lived(cells: list[Cell], fleet: np.ndarray) -> np.ndarray:
    """Mask of the shortest-lived quarter (rounded up) of each fleet."""
    lives = np.array([c.cycle_life if c.cycle_life is not None else np.inf for c in cells])
    mask = np.zeros(len(cells), dtype=bool)
    for f in np.unique(fleet):
        members = np.flatnonzero(fleet == f)
        mask[members[np.argsort(lives[members], kind="stable")[:int(np.ceil(members.size / 4))]]] = True
    return mask


def evaluate(cells: list[Cell], fleet: np.ndarray, flag_cycle: list) -> dict:
    short = short_lived(cells, fleet)
    lead = [None if (f is None or not s) else float(c.cycle_life - f)
            for c, f, s in zip(cells, flag_cycle, short)]
    others = [f is not None for f, s in zip(flag_cycle, short) if not s]
    leads = [x for x in lead if x is not None]
    return {"short_lived": short, "lead_cycles": lead,
            "detected_fraction": float(len(leads) / max(short.sum(), 1)),
            "median_lead_cycles": float(np.median(leads)) if leads else float("nan"),
            "false_alarm_rate": float(np.mean(others)) if others else 0.0}


def format_warnings(cells: list[Cell], result: dict, cfg: WarningConfig) -> str:
    lines = [f"early warning (fleet = {cfg.fleet}, |z| > {cfg.threshold:g} for {cfg.consecutive} checks, "
             f"every {cfg.step} cycles from {cfg.start})"]
    for c, s, f, lead in zip(cells, result["short_lived"], result["flag_cycle"], result["lead_cycles"]):
        if s:
            lines.append(f"  short-lived {c.cell_id:8s} EoL {c.cycle_life:6.0f}  flagged at "
                         + (f"{f:5.0f}  ({lead:.0f} cycles before EoL)" if f is not None else "never"))
    lines.append(f"  detected {100 * result['detected_fraction']:.0f} % of short-lived cells, median lead "
                 f"{result['median_lead_cycles']:.0f} cycles; false-alarm rate on the rest "
                 f"{100 * result['false_alarm_rate']:.0f} %")
    return "\n".join(lines)
