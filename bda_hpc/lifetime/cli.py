"""``bda-hpc lifetime``: life prediction on measured ageing data (and ``lifetime predict`` for new cells)."""
from __future__ import annotations

import argparse

DESCRIPTION = """\
Data-driven battery life prediction on measured ageing data.

  task = "cycle_life"  (examples/lifetime_severson.toml): cycle life of the 124 LFP cells from their first
                       100 cycles; fitted on train, reported on train/test1/test2 beside two baselines.
  task = "trajectory"  (examples/lifetime_sunwoda.toml): capacity trajectory and RUL of the 32 NCM811 cells
                       from their first N cycles (plain and physics-informed networks, leave-cells-out CV),
                       and the fleet-based early warning.

Writes OUT_DIR/lifetime.h5, PNG plots and (cycle life) OUT_DIR/lifetime_model.pkl; --json writes the
summary (rmse_cycles/mape_percent or rul_mae_cycles/trajectory_rmse_ah). A hyper-parameter point of a
sweep is one run: --set lifetime.model=elastic_net --set lifetime.params.alpha=0.01 --set lifetime.cv_only=true
(compare runs by their cycle_life_cv_rmse, a cross-validation score on train; cv_only never reads test cells).
With [lifetime.selection] enabled = true (examples/lifetime_severson.toml) the headline cycle-life model is
chosen by repeated cross-validation on train among feature sets, target scales, families, hyper-parameters
and clipping; trajectory bands are calibrated on the other leave-cells-out folds (cross-conformal).
Run under mpiexec to spread the cross-validation over ranks."""


def register(sub, common) -> None:
    from ..cli import add_stage_options
    from ..workflow.overrides import add_set_option

    p = sub.add_parser("lifetime", parents=[common], help="life prediction on measured ageing data",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_options(p, default_out="out/lifetime")
    add_set_option(p)
    p.add_argument("--json", metavar="OUT.json", help="also write the summary as JSON")
    p.set_defaults(handler=run)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    q = actions.add_parser("predict", parents=[common], help="apply a saved cycle-life model to new cells",
                           description="Predict cycle life of the cells in a cycler file (CSV or HDF5; format in "
                                       "bda_hpc/lifetime/cycler.py) with a model saved by `bda-hpc lifetime`.")
    q.add_argument("--model", required=True, metavar="M.pkl", help="lifetime_model.pkl written by the stage")
    q.add_argument("--data", required=True, metavar="FILE", help="cycler data (.csv or .h5)")
    q.add_argument("--json", metavar="OUT.json", help="write the predictions as JSON")
    q.set_defaults(handler=predict)
    c = actions.add_parser("convert", parents=[common], help="convert a cycler CSV (or a shared data set) to HDF5",
                           description="Read cycler data (.csv, .h5, or the shared severson split directory "
                                       "DIR/SPLIT) and write the documented HDF5 format with units.")
    c.add_argument("--data", required=True, metavar="FILE")
    c.add_argument("--out", required=True, metavar="OUT.h5")
    c.add_argument("--quality", action="store_true", help="also print the per-cell quality report")
    c.set_defaults(handler=convert)


def run(args) -> int:
    from pathlib import Path

    from ..config import config_text
    from ..parallel import world
    from .stage import load_config, run_stage, write_json

    comm = world()
    cfg = load_config(args.config, args.set)
    summary = run_stage(cfg, Path(args.out_dir), config_text(args.config), comm)
    if args.json and comm.rank == 0:
        write_json(args.json, summary)
    return 0


def _read_any(path: str):
    from pathlib import Path

    from .cycler import read_cycler
    from .data import SEVERSON_SPLITS, read_severson_split

    p = Path(path)
    if p.is_dir() and p.name in SEVERSON_SPLITS:
        return read_severson_split(p.parent, p.name)
    return read_cycler(p)


def predict(args) -> int:
    from .stage import load_model, predict_cells, write_json

    model = load_model(args.model)
    rows = predict_cells(model, _read_any(args.data))
    for row in rows:
        observed = "" if row["observed_cycle_life"] is None else f"  (observed {row['observed_cycle_life']:.0f})"
        print(f"{row['cell']:24s} predicted cycle life {row['predicted_cycle_life']:7.0f}{observed}")
    if args.json:
        write_json(args.json, {"model": model["name"], "seed": model["seed"], "cells": rows})
    return 0


def convert(args) -> int:
    from .cycler import write_cycler_h5
    from .quality import check_cells

    cells = _read_any(args.data)
    write_cycler_h5(args.out, cells)
    if args.quality:
        for report in check_cells(cells):
            print(report.summary())
    print(f"wrote {len(cells)} cells to {args.out}")
    return 0
