"""``bda-hpc design``: surrogate-driven inverse design verified by the simulators; ``bda-hpc design
simulate``: one design point (what the batch driver runs per case when batches go through it)."""
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
    nested = p.add_subparsers(dest="design_command", metavar="{simulate}")
    one = nested.add_parser("simulate", parents=[common], help="simulate one design point, write design_run.h5",
                            description="Run the [design] problem of --config at one point given as "
                                        "--set point.<variable>=<value> for every design variable (checked against "
                                        "the variables' ranges first); writes OUT_DIR/design_run.h5 with the "
                                        "outputs as parameters. The batch driver runs this once per case.")
    add_stage_options(one, default_out="out/design_run")
    add_set_option(one)
    one.set_defaults(handler=simulate_point)


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


def simulate_point(args) -> int:
    from pathlib import Path

    from bda_hpc.config import config_text
    from bda_hpc.workflow.overrides import load_section_with_set, parse_set

    from .stage import DesignConfig, simulate_one

    point_items = [s for s in args.set if s.startswith("point.")]
    cfg = load_section_with_set(args.config, "design", DesignConfig, [s for s in args.set if s not in point_items])
    point = {item.partition("=")[0][len("point."):]: value for item, value in
             zip(point_items, (_flat_value(parse_set([s])) for s in point_items))}
    simulate_one(cfg, point, Path(args.out_dir), config_text(args.config) if args.config else "",
                 source=str(args.config or "<defaults>"))
    return 0


def _flat_value(tree: dict):
    """The one value of a parsed ``--set a.b.c=v`` tree (variable names may hold dots)."""
    while isinstance(tree, dict):
        (tree,) = tree.values()
    return tree
