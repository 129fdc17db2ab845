"""Experiments: a list of steps (constant current/voltage/power, rest, drive cycle), each with
termination conditions. Sign convention: current > 0 discharges the cell."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bda_hpc.errors import InputError

FOREVER = 1.0e9  # s: "until a voltage or current condition ends the step"


@dataclass
class Step:
    """One experiment step.

    mode: "current" (c_rate or current), "voltage" (CV at ``voltage``), "power" (W, > 0 discharge),
    "rest" (zero current), "drive_cycle" (current vs time from ``drive_cycle`` CSV: columns
    time_s,current_A; gaps larger than ``max_gap_s`` are an error). The step ends at ``duration``
    seconds, or when the voltage falls below ``until_voltage_below`` / rises above
    ``until_voltage_above`` (default: the set's cut-offs), or, in CV, when |I| drops below
    ``until_current_below`` (A).
    """

    mode: Literal["current", "voltage", "power", "rest", "drive_cycle"] = "current"
    c_rate: float | None = None
    current: float | None = None
    voltage: float | None = None
    power: float | None = None
    duration: float = FOREVER
    until_voltage_below: float | None = None
    until_voltage_above: float | None = None
    until_current_below: float | None = None
    drive_cycle: str | None = None
    max_gap_s: float = 10.0

    def validate(self) -> list[str]:
        problems = []
        if self.duration <= 0:
            problems.append(f"duration: must be positive, got {self.duration}")
        if self.mode == "current" and (self.c_rate is None) == (self.current is None):
            problems.append("a current step needs exactly one of c_rate or current")
        if self.mode == "voltage" and self.voltage is None:
            problems.append("a voltage (CV) step needs voltage")
        if self.mode == "power" and self.power is None:
            problems.append("a power step needs power")
        if self.mode == "drive_cycle" and not self.drive_cycle:
            problems.append("a drive_cycle step needs drive_cycle = 'file.csv'")
        if self.until_current_below is not None and self.until_current_below <= 0:
            problems.append(f"until_current_below: must be positive, got {self.until_current_below}")
        return problems


def read_drive_cycle(path: str | Path, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and current (A) columns of a drive-cycle CSV, checked for order, gaps and NaNs."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"drive cycle {path}: no such file")
    with path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#")]
    if rows and not _is_number(rows[0][0]):
        rows = rows[1:]  # header
    try:
        data = np.array([[float(r[0]), float(r[1])] for r in rows])
    except (ValueError, IndexError):
        raise InputError(f"drive cycle {path}: every row needs two numbers (time_s, current_A)") from None
    if len(data) < 2:
        raise InputError(f"drive cycle {path}: needs at least two rows")
    t, current = data[:, 0], data[:, 1]
    if not np.all(np.isfinite(data)):
        bad = int(np.argmax(~np.all(np.isfinite(data), axis=1)))
        raise InputError(f"drive cycle {path}: non-finite value in data row {bad + 1}")
    dt = np.diff(t)
    if np.any(dt <= 0):
        bad = int(np.argmax(dt <= 0))
        raise InputError(f"drive cycle {path}: time does not increase at data row {bad + 2} (t = {t[bad + 1]:g} s)")
    if np.any(dt > max_gap_s):
        bad = int(np.argmax(dt > max_gap_s))
        raise InputError(f"drive cycle {path}: gap of {dt[bad]:g} s between t = {t[bad]:g} s and "
                         f"{t[bad + 1]:g} s (rows {bad + 1}-{bad + 2}) exceeds max_gap_s = {max_gap_s:g}")
    return t - t[0], current


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


@dataclass
class StepPlan:
    """A step resolved against a parameter set: control mode, set point (constant or function of
    time since the step started), limits and the largest time step that resolves the input."""

    control: int  # 0 current, 1 voltage, 2 power (as the kernel)
    setpoint: object  # float or callable(t_step) -> float
    duration: float
    v_below: float | None
    v_above: float | None
    i_below: float | None
    max_dt: float | None
    label: str


def plan_step(step: Step, nominal_Ah: float, v_min: float, v_max: float, base_dir: Path = Path(".")) -> StepPlan:
    """Resolve C-rates, default cut-offs and drive-cycle files."""
    problems = step.validate()
    if problems:
        raise InputError(f"experiment step ({step.mode}): " + "; ".join(problems))
    below = step.until_voltage_below if step.until_voltage_below is not None else v_min
    above = step.until_voltage_above if step.until_voltage_above is not None else v_max
    if step.mode == "current":
        amps = step.current if step.current is not None else step.c_rate * nominal_Ah
        return StepPlan(0, float(amps), step.duration, below, above, None, None,
                        f"current {amps:g} A")
    if step.mode == "rest":
        return StepPlan(0, 0.0, step.duration, None, None, None, None, "rest")
    if step.mode == "voltage":
        return StepPlan(1, float(step.voltage), step.duration, None, None, step.until_current_below, None,
                        f"CV {step.voltage:g} V")
    if step.mode == "power":
        return StepPlan(2, float(step.power), step.duration, below, above, None, None, f"power {step.power:g} W")
    path = Path(step.drive_cycle)
    if not path.is_absolute():
        path = base_dir / path
    t, amps = read_drive_cycle(path, step.max_gap_s)
    duration = min(step.duration, float(t[-1]))
    return StepPlan(0, lambda ts: float(np.interp(ts, t, amps)), duration, below, above, None,
                    float(np.min(np.diff(t))), f"drive cycle {path.name}")
