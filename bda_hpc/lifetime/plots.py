"""PNG plots of the lifetime stage (matplotlib, Agg backend): parity, importance, forecasts, warnings."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import END_OF_LIFE_AH


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def parity(table: dict, names: list[str], path: Path) -> Path:
    """Predicted against observed cycle life, one panel per model, colours by split."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for split, colour in (("train", "tab:blue"), ("test1", "tab:orange"), ("test2", "tab:green")):
            block = table["cells"][split]
            row = table["models"][name]
            ax.scatter(block["observed"], block["predicted"][name], s=14, c=colour,
                       label=f"{split}: RMSE {row['rmse_cycles'][split]:.0f}")
        top = max(max(np.max(b["observed"]), np.max(b["predicted"][name])) for b in table["cells"].values())
        lim = [0, 1.05 * top]    # never hide a wild prediction outside a fixed frame
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set(xlim=lim, ylim=lim, xlabel="observed cycle life", ylabel="predicted cycle life", title=name)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def importance(names: list[str], values: np.ndarray, title: str, path: Path) -> Path:
    plt = _pyplot()
    order = np.argsort(values)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    ax.barh(np.array(names)[order], values[order], color="tab:blue")
    ax.set(xlabel="importance (|standardised coefficient| or impurity decrease)", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def forecasts(block: dict, models: list[str], fold_name: str, path: Path, band_z: float, max_cells: int = 4) -> Path:
    """Measured capacity and forecasts with bands (calibrated where available) for the first held-out cells."""
    plt = _pyplot()
    data = block["data"]
    name, held, result = next(f for f in block["folds"] if f[0] == fold_name)
    shown = list(range(min(max_cells, held.size)))
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.8), squeeze=False)
    cycles = np.arange(1, data.q.shape[1] + 1)
    for ax, k in zip(axes[0], shown):
        i = held[k]
        ax.plot(cycles, data.q[i], "k", lw=1, label="measured")
        for model, colour in zip(models, ("tab:orange", "tab:blue", "tab:gray", "tab:green")):
            mean = result[model]["mean"][k]
            # the calibrated band where there is one (see calibration.py), else the nominal ensemble band
            fit = result[model]
            width = fit["half_width"][k] if "half_width" in fit else band_z * fit["std"][k]
            ax.plot(cycles, mean, color=colour, lw=1.2, label=model)
            if np.any(width > 0):
                ax.fill_between(cycles, mean - width, mean + width, color=colour, alpha=0.25)
        ax.axvline(data.n_early, color="k", ls=":", lw=0.8)
        ax.axhline(END_OF_LIFE_AH, color="r", ls="--", lw=0.8)
        ax.set(xlim=(0, min(1400, cycles[-1])), ylim=(0.8, 1.12), xlabel="cycle", ylabel="capacity (Ah)",
               title=f"{data.cell_ids[i]} ({name}, N={data.n_early})")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def warnings_timeline(cell_ids: list[str], lives: list, result: dict, path: Path) -> Path:
    """End of life and flag cycle of every cell; short-lived cells highlighted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(cell_ids) + 1.2))
    for y, (life, flag, short) in enumerate(zip(lives, result["flag_cycle"], result["short_lived"])):
        ax.plot([0, life], [y, y], color="tab:red" if short else "tab:gray", lw=2)
        if flag is not None:
            ax.plot(flag, y, "k^", ms=6)
    ax.set_yticks(range(len(cell_ids)), cell_ids, fontsize=7)
    ax.set(xlabel="cycle (line: life to 0.88 Ah; ▲ flagged; red: shortest-lived quarter)", title="early warning")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def covariate_shift(X: dict, y: dict, names: list[str], predictions: dict, path: Path) -> Path:
    """Each feature's distribution per split in training standard deviations, then observed against
    predicted cycle life (log axes): where test2 departs from train, and which cells carry its error."""
    plt = _pyplot()
    colours = {"train": "tab:blue", "test1": "tab:orange", "test2": "tab:green"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1.4, 1]})
    mean, std = X["train"].mean(axis=0), X["train"].std(axis=0)
    jitter = np.random.default_rng(0)
    for k, (split, colour) in enumerate(colours.items()):
        z = (X[split] - mean) / std
        for j in range(len(names)):
            pos = j + (k - 1) * 0.25
            axes[0].scatter(pos + jitter.uniform(-0.08, 0.08, len(z)), z[:, j], s=8, c=colour, alpha=0.6,
                            label=split if j == 0 else None)
            axes[0].plot([pos - 0.1, pos + 0.1], [np.median(z[:, j])] * 2, c="k", lw=1.5)
    axes[0].set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
    axes[0].set(ylabel="(feature − train mean) / train std", title="features by split (bar: median)")
    axes[0].axhline(0, c="grey", lw=0.6)
    axes[0].legend(fontsize=8)
    for split, colour in colours.items():
        axes[1].scatter(y[split], predictions[split], s=12, c=colour, label=f"{split}: RMSE "
                        f"{np.sqrt(np.mean((predictions[split] - y[split]) ** 2)):.0f}")
    lim = [100, 3000]
    axes[1].plot(lim, lim, "k--", lw=0.8)
    axes[1].set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="observed cycle life",
                ylabel="predicted cycle life", title="published discharge model")
    axes[1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
