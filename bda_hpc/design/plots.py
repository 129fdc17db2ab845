"""PNG figures of a design run: parity, learning curves, optimisation trace, the optimum's curves."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def parity(report: dict, units: dict, path: Path) -> Path:
    plt = _pyplot()
    names = list(report)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        r = report[name]
        ax.errorbar(r["test_true"], r["test_mean"], yerr=2 * r["test_std"], fmt="o", ms=3, alpha=0.7,
                    label="held-out runs (±2σ, calibrated ensemble)")
        lo, hi = np.min(r["test_true"]), np.max(r["test_true"])
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"simulated {name} [{units.get(name, '')}]")
        ax.set_ylabel("surrogate")
        ax.set_title(f"R² = {r['r2']:.3f}, MAE = {r['mae']:.3g} (n_test = {r['n_test']})", fontsize=9)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curves(report: dict, path: Path) -> Path:
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    for name, r in report.items():
        lc = r.get("learning_curve", [])
        if not lc:
            continue
        n = [row["n_train"] for row in lc]
        a1.plot(n, [row["r2"] for row in lc], "o-", label=name)
        a2.plot(n, [row["mae"] / max(np.std(r["test_true"]), 1e-300) for row in lc], "o-", label=name)
    a1.axhline(0.95, color="k", ls=":", lw=1)
    a1.set_xscale("log")
    a1.set_xlabel("training runs")
    a1.set_ylabel("test R²")
    a1.set_ylim(top=1.0)
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel("training runs")
    a2.set_ylabel("test MAE / std of test values")
    a1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def trace(traces: dict, objective: str, units: str, initial: int, path: Path) -> Path:
    """Best feasible simulated objective against simulations, one line per method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in traces.items():
        ax.step(np.arange(1, len(values) + 1), values, where="post", label=label)
    ax.axvline(initial + 0.5, color="grey", ls=":", lw=1, label="end of initial sample")
    ax.set_xlabel("simulations")
    ax.set_ylabel(f"best feasible {objective} [{units}]")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves(series: dict, path: Path) -> Path:
    """The optimum's simulated time series: one panel per quantity (name -> (array, units)); 'time' on x."""
    plt = _pyplot()
    t, t_units = series["time"]
    names = [n for n in series if n not in ("time", "step")]
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 * len(names)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        values, units = series[name]
        ax.plot(t, values)
        ax.set_ylabel(f"{name}\n[{units}]", fontsize=8)
        if name.startswith("anode_overpotential"):
            ax.axhline(0.0, color="r", ls="--", lw=1)
    axes[-1, 0].set_xlabel(f"time [{t_units}]")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
