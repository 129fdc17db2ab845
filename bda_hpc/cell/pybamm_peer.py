"""PyBaMM's DFN as the peer: run it with the same mesh, tolerances and output times as ours and
compare voltage, capacity and temperature. Used by the tests (when pybamm is importable) and by
``benchmarks/dfn_vs_pybamm.py``."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .grid import MeshSizes


@dataclass
class PeerRun:
    times: np.ndarray
    voltage: np.ndarray
    temperature: np.ndarray
    capacity_Ah: float
    setup_s: float
    solve_s: float
    resolve_s: float


def run_pybamm(c_rate: float, *, parameter_set: str = "Chen2020", thermal: bool = False,
               mesh: MeshSizes | None = None, rtol: float = 1e-6, atol: float = 1e-6,
               output_dt: float = 10.0, t_max: float | None = None, repeats: int = 1,
               clock=time.perf_counter) -> PeerRun:
    """Constant-current discharge from the set's initial state to its lower cut-off with IDAKLU.

    setup_s: model + parameters + mesh + discretisation (``Simulation.build``); solve_s: first
    solve (includes IDAKLU set-up); resolve_s: best of ``repeats`` further solves of the built model.
    """
    import pybamm

    mesh = mesh or MeshSizes()
    t0 = clock()
    options = {"thermal": "lumped"} if thermal else {}
    model = pybamm.lithium_ion.DFN(options=options)
    pv = pybamm.ParameterValues(parameter_set)
    current = c_rate * pv["Nominal cell capacity [A.h]"]
    pv["Current function [A]"] = current
    var_pts = {"x_n": mesh.x_n, "x_s": mesh.x_s, "x_p": mesh.x_p, "r_n": mesh.r_n, "r_p": mesh.r_p}
    sim = pybamm.Simulation(model, parameter_values=pv, var_pts=var_pts,
                            solver=pybamm.IDAKLUSolver(rtol=rtol, atol=atol))
    sim.build()
    t1 = clock()
    t_end = t_max or 1.2 * 3600.0 / c_rate
    t_interp = np.arange(0.0, t_end, output_dt)
    sol = sim.solve([0.0, t_end], t_interp=t_interp)
    t2 = clock()
    best = np.inf
    for _ in range(repeats):
        ta = clock()
        sim.solve([0.0, t_end], t_interp=t_interp)
        best = min(best, clock() - ta)
    T = sol["Volume-averaged cell temperature [K]"].entries if thermal else np.full(len(sol.t), np.nan)
    return PeerRun(np.asarray(sol["Time [s]"].entries), np.asarray(sol["Voltage [V]"].entries), np.asarray(T),
                   float(sol["Discharge capacity [A.h]"].entries[-1]), t1 - t0, t2 - t1, best)


def compare(times, voltage, capacity_Ah, peer: PeerRun, temperature=None) -> dict:
    """RMS/max voltage difference on the output times both runs share (the final event time
    excluded), relative capacity difference, final-temperature difference."""
    t_ours, t_peer = np.round(np.asarray(times), 6), np.round(peer.times, 6)
    common, i_ours, i_peer = np.intersect1d(t_ours[:-1], t_peer[:-1], return_indices=True)
    dv = np.asarray(voltage)[i_ours] - peer.voltage[i_peer]
    out = {
        "n_compared": int(common.size),
        "rms_mv": float(1e3 * np.sqrt(np.mean(dv**2))),
        "max_mv": float(1e3 * np.max(np.abs(dv))),
        "capacity_Ah": float(capacity_Ah),
        "pybamm_capacity_Ah": peer.capacity_Ah,
        "capacity_rel_diff": float(abs(capacity_Ah - peer.capacity_Ah) / peer.capacity_Ah),
    }
    if temperature is not None:
        out["final_temperature_K"] = float(temperature[-1])
        out["pybamm_final_temperature_K"] = float(peer.temperature[-1])
        out["temperature_diff_K"] = float(abs(temperature[-1] - peer.temperature[-1]))
    return out
