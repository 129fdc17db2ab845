"""Grid and step-tolerance convergence of a 2D Li dendrite: tip height and short-circuit time.

    python benchmarks/pf_li_dendrite.py [--quick] [--np N] [--json PATH]

One hemispherical nucleus (radius 3 µm) on a flat front 6 µm from the electrode grows at the table's −0.45 V
across a 32 µm × 24 µm box until its tip comes within ``short_circuit_gap`` (6 interface lengths ℓ, 2.25 µm)
of the counter electrode, where the stage ends the run and writes ``short_circuit_time``. Each case is a
``bda-hpc phasefield`` run as a user would start it (the stage's step control: BDF, error in the max norm),
on cells of h = 1 µm (the REFERENCES §1 setup's grid, 2.7 ℓ) down to h = 0.125 µm, and on the 1 µm grid
at a 10x tighter step tolerance too. Reported: the short-circuit time and the tip height at fixed times per
case, their changes between successive grids with the observed order, and the change from the step tolerance.

A case whose JSON is in the run directory is not rerun; an interrupted one continues from its checkpoint.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bda_hpc.convergence import grid_convergence

REPO = Path(__file__).resolve().parents[1]
BOX_UM = (32.0, 24.0)
T_END = 3.0                      # s; every case ends earlier, at its short circuit
OUTPUT_INTERVAL = 0.25           # s: fields and a checkpoint, so an interrupted case continues
TIP_TIMES = (0.25, 0.5, 0.75, 1.0)
GRIDS = (1.0, 0.5, 0.25, 0.125)  # µm
RTOLS = (1e-3, 1e-4)             # 1e-3 is the examples' tolerance; the tighter one on STEP_CHECK_GRID only
STEP_CHECK_GRID = 1.0
QUICK_GRIDS = (1.0, 0.5)

CONFIG = """[phasefield]
model = "li_deposition"
cells = [{nx}, {ny}]
spacing = [{h}, {h}]
t_end = {t_end}
dt_initial = 1e-3
dt_max = 0.05
output_interval = {output_interval}
snapshots = false
progress_seconds = 30.0
[phasefield.setup]
front = 6.0
nuclei = [[12.0, 3.0]]
[phasefield.petsc]
ts_rtol = {rtol}
ts_atol = {rtol}
"""


def case_name(h: float, rtol: float) -> str:
    return f"h{h:g}_rtol{rtol:g}"


def run_case(h: float, rtol: float, np_: int, run_dir: Path) -> dict:
    """One stage run (continued from its checkpoint if an earlier one was interrupted); its curves as a dict."""
    from bda_hpc.io.params import read_params
    from bda_hpc.launch import mpiexec_command

    name = case_name(h, rtol)
    out = run_dir / name
    cfg = run_dir / f"{name}.toml"
    cells = [round(side / h) for side in BOX_UM]
    cfg.write_text(CONFIG.format(nx=cells[0], ny=cells[1], h=h, t_end=T_END, rtol=rtol,
                                 output_interval=OUTPUT_INTERVAL))
    restart = ["--restart"] if (out / "checkpoint.h5").exists() else []
    cmd = ([] if np_ == 1 else mpiexec_command(np_)) + [
        sys.executable, "-m", "bda_hpc.cli", "phasefield", "--config", str(cfg), "--out-dir", str(out), *restart]
    print(f"running {name} ({'continued' if restart else 'from t = 0'}) on {np_} rank(s)", flush=True)
    t0, cpu0 = time.perf_counter(), os.times()
    r = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO)
    wall, cpu1 = time.perf_counter() - t0, os.times()
    if r.returncode != 0:
        raise SystemExit(f"case {name} failed (exit {r.returncode}); its last checkpoint is kept in {out}")
    with open(out / "timeseries.csv") as f:
        rows = list(csv.DictReader(f))
    t = [float(row["time [s]"]) for row in rows]
    tip = [float(row["tip_height [m]"]) * 1e6 for row in rows]
    ps = read_params(out / "dendrite.h5")
    t_sc = ps.require("short_circuit_time", units="s") if "short_circuit_time" in ps else None
    return {"case": name, "h_um": h, "ts_rtol": rtol, "cells": cells,
            "ranks": np_, "continued": bool(restart), "wall_s": wall,  # of this invocation, if continued
            "cpu_s": (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system),
            "rows": len(t), "short_circuit_time_s": t_sc, "t_s": t, "tip_um": tip,
            "tip_at_um": {f"{tt:g}": float(np.interp(tt, t, tip)) for tt in TIP_TIMES if tt <= t[-1]}}


def summarise(cases: dict[str, dict]) -> dict:
    """Grid convergence of t_sc and the tip at fixed times (at the examples' tolerance), and the change of t_sc
    from the step tolerance."""
    grids = sorted({c["h_um"] for c in cases.values()}, reverse=True)
    by_grid = [cases[case_name(h, RTOLS[0])] for h in grids if case_name(h, RTOLS[0]) in cases]
    # the tip at the times every grid reached
    times = [tt for tt in map("{:g}".format, TIP_TIMES) if all(tt in c["tip_at_um"] for c in by_grid)]
    grid = {"h_um": [c["h_um"] for c in by_grid],
            "short_circuit_time_s": grid_convergence([c["short_circuit_time_s"] for c in by_grid]),
            "tip_at_um": {tt: grid_convergence([c["tip_at_um"][tt] for c in by_grid]) for tt in times}}
    steps = {}
    for h in grids:
        a, b = cases.get(case_name(h, RTOLS[0])), cases.get(case_name(h, RTOLS[1]))
        if a and b:
            steps[f"{h:g}"] = {"short_circuit_time_change": a["short_circuit_time_s"] / b["short_circuit_time_s"] - 1,
                               "wall_s": [a["wall_s"], b["wall_s"]], "rows": [a["rows"], b["rows"]]}
    return {"grid_sequence": grid, "step_tolerance": steps}


def _sequences(grid: dict) -> list[tuple[str, dict]]:
    """(label, grid_convergence) of t_sc and of the tip at each time."""
    return [("t_sc", grid["short_circuit_time_s"])] + [(f"tip at {tt} s", q) for tt, q in grid["tip_at_um"].items()]


def plot(cases: dict[str, dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for c in cases.values():
        a.plot(c["t_s"], c["tip_um"], "-" if c["ts_rtol"] == RTOLS[0] else "--",
               label=f"h = {c['h_um']:g} µm, rtol {c['ts_rtol']:g}")
    a.set_xlabel("t [s]")
    a.set_ylabel("tip height above the front [µm]")
    a.legend(fontsize=8)
    # convergence: the change of each quantity from one grid to the next, at the finer grid's h
    g = summary["grid_sequence"]
    fine_h = g["h_um"][1:]
    for label, seq in _sequences(g):
        b.loglog(fine_h, np.abs(seq["change_to_next_grid"]) * 100, "o-", label=label)
    if len(fine_h) > 1:
        ref = np.array(fine_h)
        b.loglog(ref, 0.5 * (ref / ref[-1]) ** 2, "k:", label="order 2")
    b.set_xticks(fine_h, [f"{h:g}" for h in fine_h])
    b.minorticks_off()
    b.set_xlabel("h of the finer grid [µm]")
    b.set_ylabel("|change from the grid 2h| [%]")
    b.invert_xaxis()
    b.legend(fontsize=8)
    fig.suptitle(f"Li dendrite, {BOX_UM[0]:g} µm × {BOX_UM[1]:g} µm box, −0.45 V, ts_rtol {RTOLS[0]:g} unless dashed")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"grids {QUICK_GRIDS} µm only (about 2.5 CPU minutes)")
    ap.add_argument("--np", type=int, default=1, help="MPI ranks per case")
    ap.add_argument("--grids", type=lambda v: tuple(float(h) for h in v.split(",")), default=GRIDS,
                    help=f"cell sizes in µm, comma-separated (default {','.join(map(str, GRIDS))})")
    ap.add_argument("--json", default="benchmarks/results/pf_li_dendrite.json")
    ap.add_argument("--run-dir", default="benchmarks/results/pf_li_dendrite_runs",
                    help="per-case stage outputs and curves (a case found here is not rerun)")
    args = ap.parse_args(argv)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    grids = QUICK_GRIDS if args.quick else args.grids
    cases = {}
    todo = [(h, RTOLS[0]) for h in grids] + ([(STEP_CHECK_GRID, RTOLS[1])] if STEP_CHECK_GRID in grids else [])
    for h, rtol in todo:
        path = run_dir / f"{case_name(h, rtol)}.json"
        if not path.exists():
            path.write_text(json.dumps(run_case(h, rtol, args.np, run_dir)))
        cases[case_name(h, rtol)] = json.loads(path.read_text())
    summary = summarise(cases)
    print(f"{'case':>16} {'ranks':>5} {'wall s':>8} {'rows':>6} {'t_sc [s]':>9}  tip at " +
          " / ".join(f"{t:g}" for t in TIP_TIMES) + " s [µm]")
    for c in cases.values():
        t_sc = c["short_circuit_time_s"]
        print(f"{c['case']:>16} {c['ranks']:5d} {c['wall_s']:8.1f} {c['rows']:6d} "
              f"{'none' if t_sc is None else f'{t_sc:.4f}':>9}  " +
              " / ".join(f"{v:.3f}" for v in c["tip_at_um"].values()))
    g = summary["grid_sequence"]
    for what, seq in _sequences(g):
        print(f"grid: {what}: change to the next grid " + ", ".join(f"{x:+.2%}" for x in seq["change_to_next_grid"]) +
              "; observed order " + ", ".join("none (not converging)" if p is None else f"{p:.2f}"
                                               for p in seq["observed_order"]))
    for h, s in summary["step_tolerance"].items():
        print(f"h = {h} µm: t_sc at rtol {RTOLS[0]:g} vs {RTOLS[1]:g}: {s['short_circuit_time_change']:+.2%}")
    out = {"benchmark": "pf_li_dendrite", "box_um": BOX_UM, "quick": args.quick, "machine": os.uname().nodename,
           "load_avg_1min": os.getloadavg()[0], **summary,
           "cases": {k: {kk: v for kk, v in c.items() if kk not in ("t_s", "tip_um")} for k, c in cases.items()}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    plot(cases, summary, Path(args.json).with_suffix(".png"))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
