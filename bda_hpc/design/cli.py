"""``bda-hpc design``: surrogate-driven inverse design verified by the simulators."""
from __future__ import annotations


def register(sub, common):
    from bda_hpc.cli import add_stage_options
    from bda_hpc.workflow.overrides import add_set_option

    p = sub.add_parser("design", parents=[common],
                       help="sweeps -> surrogates -> Bayesian inverse design, verified by simulation",
                       description="Run a design loop to a budget of simulations: space-filling initial sample, "
                                   "deep-ensemble surrogates, constrained expected improvement in batches, "
                                   "re-simulation of the proposed optimum. Writes design.h5 and PNG plots; "
                                   "resumes from design_checkpoint.h5 in the out dir. "
                                   "Example: bda-hpc design --config examples/design_fastcharge.toml")
    add_stage_options(p, default_out="out/design")
    add_set_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    import torch

    from bda_hpc.config import config_text
    from bda_hpc.workflow.overrides import load_section_with_set

    from .stage import DesignConfig, run_design

    torch.set_num_threads(1)  # simulations use the cores; the small networks gain little from threads
    cfg = load_section_with_set(args.config, "design", DesignConfig, args.set)
    run_design(cfg, Path(args.out_dir), config_text(args.config) if args.config else "",
               source=str(args.config or "<defaults>"))
    return 0
