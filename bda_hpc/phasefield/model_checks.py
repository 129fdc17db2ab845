"""Model-form checks of the Li model on the small example: electrolyte conductivity and the ion limit.

    python -m bda_hpc.phasefield.model_checks [--t-end 2] [--json PATH] [--png PATH]

Runs the geometry of examples/dendrite_2d_small.toml (48 × 32 µm, one nucleus, −0.45 V) with
Chen et al.'s constant electrolyte conductivity, with σ_l ∝ c (``conductivity_li_share`` = 1, see
:func:`li_deposition.electrolyte_conductivity`) and with the ion limit off, and reports for each the
extremes of c over all steps, the deposit and the median ξ and c inside the deposit (ξ > 0.6), as JSON
and a PNG of the final c and ξ fields.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

VARIANTS = {
    "constant_sigma": {"conductivity_li_share": 0.0},
    "sigma_follows_c": {"conductivity_li_share": 1.0},
    "sigma_follows_c_no_ion_limit": {"conductivity_li_share": 1.0, "ion_limit_concentration": 0.0},
}


def run_small_example(t_end: float, comm=None, **physics) -> tuple[dict, np.ndarray]:
    """One serial run of the small example; returns (summary, final owned state)."""
    from mpi4py import MPI

    from .grid import Grid
    from .li_deposition import LiDeposition
    from .li_params import LiPhysical
    from .solver import PhaseFieldSolver

    comm = comm or MPI.COMM_SELF
    model = LiDeposition.from_physical(LiPhysical(**physics), 2, front=8.0, nuclei=[(16.0, 3.0)])
    grid = Grid(comm, (48, 32), (1.0, 1.0), 3, faces=model.faces(), field_names=model.fields)
    solver = PhaseFieldSolver(comm, grid, model, options={"ksp_type": "preonly", "pc_type": "lu",
                                                          "ts_rtol": "1e-3", "ts_atol": "1e-3"})
    solver.set_state(model.initial_state(grid))
    solver.make_consistent()
    extremes = {"c_max": -np.inf, "c_min": np.inf}

    def track(s, step, t, x):
        c = grid.owned_view(x, readonly=True)[..., 1]
        extremes["c_max"] = max(extremes["c_max"], float(c.max()))
        extremes["c_min"] = min(extremes["c_min"], float(c.min()))

    solver.step_callbacks.append(track)
    cpu = time.process_time()
    solver.advance(t_end, 1e-3, 0.05)
    u = solver.state()[0]
    body = u[..., 0] > 0.6
    summary = {"physics": physics, "t_end": t_end, "steps": solver.step, "cpu_s": time.process_time() - cpu,
               **extremes, "deposit_um2": float(u[..., 0].sum()),
               "xi_median_in_deposit": float(np.median(u[..., 0][body])),
               "c_median_in_deposit": float(np.median(u[..., 1][body]))}
    solver.destroy()
    grid.destroy()
    return summary, u


def plot(states: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(states), figsize=(4.2 * len(states), 5.6), squeeze=False)
    for col, (name, u) in enumerate(states.items()):
        for row, (field, label, cmap) in enumerate(((1, "c / c0", "viridis"), (0, "ξ", "magma"))):
            ax = axes[row, col]
            im = ax.imshow(u[..., field], origin="lower", cmap=cmap, extent=(0, u.shape[1], 0, u.shape[0]))
            ax.set_title(f"{name}: {label} (max {u[..., field].max():.2f}, min {u[..., field].min():.2f})",
                         fontsize=8)
            ax.set_xlabel("x (µm)")
            ax.set_ylabel("y (µm)")
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    import petsc4py

    petsc4py.init([])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--t-end", type=float, default=2.0, help="s (the small example runs to 2 s)")
    ap.add_argument("--json", default="benchmarks/results/pf_ion_conductivity.json")
    ap.add_argument("--png", default="benchmarks/results/pf_ion_conductivity.png")
    args = ap.parse_args(argv)
    summaries, states = {}, {}
    for name, physics in VARIANTS.items():
        summaries[name], states[name] = run_small_example(args.t_end, **physics)
        print(name, json.dumps(summaries[name]), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"check": "li_model_form", "variants": summaries}, indent=1))
    plot(states, Path(args.png))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
