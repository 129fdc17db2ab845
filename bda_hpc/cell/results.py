"""Time series and summary figures of a cell simulation, computed from the saved states."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .grid import Grid
from .residual_ref import interfacial_current


def _extrapolate_right(last, before_last):
    """Value at the right face of the last cell from its two cell-centre values (uniform cells)."""
    return 1.5 * last - 0.5 * before_last


@dataclass
class CellResults:
    """Outputs of ``simulate``: ``series`` (name -> (array, units)) and ``summary`` (name -> (value, units))."""

    series: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    step_reasons: list = field(default_factory=list)
    final_state: np.ndarray | None = None

    def __getitem__(self, name):
        if name in self.series:
            return self.series[name][0]
        return self.summary[name][0]


def cumulative_trapezoid(t, y):
    return np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(t))])


def postprocess(grid: Grid, times, states, fine, step_index, reasons) -> CellResults:
    """Build the time series written to cell.h5 (see ``stage.py`` for the list)."""
    pv = grid.params.values
    t = np.asarray(times)
    U = np.asarray(states)
    s = grid.slices
    V = 1.5 * U[:, s["phis_p"]][:, -1] - 0.5 * U[:, s["phis_p"]][:, -2]
    I = U[:, s["I"]][:, 0]
    T = U[:, s["T"]][:, 0]
    # capacity and energy from the trace of every accepted step (exact for piecewise-linear I)
    ft, fI, fV = (np.asarray(c) for c in zip(*fine))
    q_fine = cumulative_trapezoid(ft, fI) / 3600.0
    capacity = np.interp(t, ft, q_fine)
    e_fine = cumulative_trapezoid(ft, np.maximum(fI, 0) * fV) / 3600.0
    discharged_Ah = float(cumulative_trapezoid(ft, np.maximum(fI, 0))[-1] / 3600.0)

    def particle_stats(name, key, nx, nr, re):
        c = U[:, s[name]].reshape(len(t), nx, nr)
        shell = re[1:] ** 3 - re[:-1] ** 3
        mean = (c @ shell).mean(axis=1) / pv[key]["c_max"]
        surf = _extrapolate_right(c[:, :, -1], c[:, :, -2]) / pv[key]["c_max"]
        return mean, surf, c

    mean_n, surf_n, cn = particle_stats("cs_n", "negative", grid.nx_n, grid.nr_n, grid.r_edges_n)
    mean_p, surf_p, _ = particle_stats("cs_p", "positive", grid.nx_p, grid.nr_p, grid.r_edges_p)
    # anode / separator interface: phi_s - phi_e and j from the last two negative cells
    nn = grid.nx_n
    phis = U[:, s["phis_n"]][:, nn - 2:]
    phie = U[:, s["phie"]][:, nn - 2:nn]
    ce = U[:, s["ce"]][:, nn - 2:nn]
    j_last2, _ = interfacial_current(grid, "negative", cn[:, nn - 2:], ce, phis, phie, T[:, None])
    overpot = _extrapolate_right(phis[:, 1] - phie[:, 1], phis[:, 0] - phie[:, 0])
    j_sep = _extrapolate_right(j_last2[:, 1], j_last2[:, 0])
    ce_all = U[:, s["ce"]]
    i_min = int(np.argmin(overpot))
    res = CellResults(step_reasons=list(reasons), final_state=U[-1].copy())
    res.series = {
        "time": (t, "s"), "voltage": (V, "V"), "current": (I, "A"), "temperature": (T, "K"),
        "capacity": (capacity, "A*h"), "step": (np.asarray(step_index), ""),
        "soc_negative_mean": (mean_n, ""), "soc_positive_mean": (mean_p, ""),
        "soc_negative_surface_separator": (surf_n[:, -1], ""),
        "soc_positive_surface_separator": (surf_p[:, 0], ""),
        "electrolyte_concentration_min": (ce_all.min(axis=1), "mol/m^3"),
        "electrolyte_concentration_max": (ce_all.max(axis=1), "mol/m^3"),
        "anode_overpotential_separator": (overpot, "V"),
        "anode_current_density_separator": (j_sep, "A/m^2"),
    }
    res.summary = {
        "discharge_capacity": (discharged_Ah, "A*h"),
        "energy": (float(e_fine[-1]), "W*h"),
        "max_temperature": (float(T.max()), "K"),
        "anode_overpotential_min": (float(overpot[i_min]), "V"),
        "anode_current_density": (float(j_sep[i_min]), "A/m^2"),
        "final_voltage": (float(V[-1]), "V"),
        "duration": (float(t[-1] - t[0]), "s"),
    }
    return res
