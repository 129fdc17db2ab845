"""Accuracy of a model on a DFT data set: energy (meV/atom), force (eV/Å, per component) and stress (GPa) errors."""

from __future__ import annotations

import numpy as np

from .properties import EV_PER_A3_TO_GPA


def error_metrics(structures, results) -> dict:
    """MAE/RMSE overall and per `group` (JSON keys fixed by issue 4; stress over the trusted components of
    structures that have one, see structures.py)."""

    def summary(pairs):
        de = np.array([(r.energy - s.energy) / len(s) for s, r in pairs]) * 1e3
        df = np.concatenate([(r.forces - s.forces).ravel() for s, r in pairs])
        with_stress = [(s, r) for s, r in pairs if s.stress is not None and getattr(r, "virial", None) is not None]
        ds = [(r.stress - s.stress)[s.stress_mask] * EV_PER_A3_TO_GPA for s, r in with_stress]
        ds = np.concatenate(ds) if ds else np.zeros(0)
        stress = (
            {"stress_mae_gpa": float(np.mean(np.abs(ds))), "stress_rmse_gpa": float(np.sqrt(np.mean(ds**2)))}
            if len(ds)
            else {}
        )
        return {
            **stress,
            "structures": len(pairs),
            "atoms": int(sum(len(s) for s, _ in pairs)),
            "energy_mae_mev_per_atom": float(np.mean(np.abs(de))),
            "energy_rmse_mev_per_atom": float(np.sqrt(np.mean(de**2))),
            "force_mae_ev_per_a": float(np.mean(np.abs(df))),
            "force_rmse_ev_per_a": float(np.sqrt(np.mean(df**2))),
        }

    pairs = list(zip(structures, results))
    out = summary(pairs)
    groups = sorted({s.group for s in structures})
    out["per_group"] = {g: summary([(s, r) for s, r in pairs if s.group == g]) for g in groups}
    return out


def format_table(metrics: dict) -> str:
    rows = [("all", metrics)] + list(metrics["per_group"].items())
    lines = [
        f"{'group':<12} {'n':>4} {'E MAE':>8} {'E RMSE':>8} {'F MAE':>8} {'F RMSE':>8}",
        f"{'':<12} {'':>4} {'meV/at':>8} {'meV/at':>8} {'eV/Å':>8} {'eV/Å':>8}",
    ]
    for name, m in rows:
        lines.append(
            f"{name:<12} {m['structures']:>4} {m['energy_mae_mev_per_atom']:8.3f} "
            f"{m['energy_rmse_mev_per_atom']:8.3f} {m['force_mae_ev_per_a']:8.4f} {m['force_rmse_ev_per_a']:8.4f}"
        )
    return "\n".join(lines)
