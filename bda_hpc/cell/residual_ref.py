"""Slow, readable NumPy twin of the compiled DFN residual (``bda_hpc._ext.dfn_kernel``).

F(u, u') = M u' - f(u) with the rows scaled as in the kernel (see ``row_scales``). Tests compare
the kernel with this function to round-off, and this function with PyBaMM's discretised model.
Equations: ``REFERENCES.md`` section 3; discretisation: ``grid.py``.
"""

from __future__ import annotations

import numpy as np

from .grid import FARADAY as F
from .grid import GAS_CONSTANT as R
from .grid import Grid

CONTROL_CURRENT, CONTROL_VOLTAGE, CONTROL_POWER = 0, 1, 2


def harmonic(beta, d1, d2):
    """PyBaMM's harmonic edge mean 1 / (beta/D1 + (1-beta)/D2), beta = h_left/(h_left+h_right)."""
    return 1.0 / (beta / d1 + (1.0 - beta) / d2)


def arithmetic(beta, f1, f2):
    """Distance-weighted (linear-interpolation) edge value between two cell centres."""
    return (1.0 - beta) * f1 + beta * f2


def particle_rhs(cs, j, D, radius, r_edges):
    """dc/dt of every shell: spherical FV with zero flux at r = 0 and -D dc/dr = j/F at r = R."""
    dr = r_edges[1] - r_edges[0]
    grad = np.zeros((cs.shape[0], cs.shape[1] + 1))
    grad[:, 1:-1] = np.diff(cs, axis=1) / dr
    grad[:, -1] = -j * radius / (F * D)
    flux = -D * grad * r_edges**2
    vol = (r_edges[1:] ** 3 - r_edges[:-1] ** 3) / 3
    return -np.diff(flux, axis=1) / vol / radius**2


def surface(cs):
    """Surface concentration by linear extrapolation of the last two shells (uniform r mesh)."""
    return 1.5 * cs[..., -1] - 0.5 * cs[..., -2]


def arrhenius(energy, T, T_ref):
    return np.exp(energy / R * (1.0 / T_ref - 1.0 / T))


def interfacial_current(grid: Grid, key, cs, ce, phis, phie, T):
    """Butler-Volmer j (A/m^2) and overpotential of one electrode's x cells."""
    p, T_ref = grid.params.values[key], grid.params["cell.reference_temperature"]
    c_surf = surface(cs)
    x = c_surf / p["c_max"]
    ocp = grid.params.tables[f"{key}.ocp"](x) + (T - T_ref) * p.get("ocp_entropic_change", 0.0)
    j0 = (p["exchange_current_m_ref"] * arrhenius(p["exchange_current_activation_energy"], T, T_ref)
          * np.sqrt(ce) * np.sqrt(c_surf) * np.sqrt(p["c_max"] - c_surf))
    eta = phis - phie - ocp
    return 2.0 * j0 * np.sinh(F * eta / (2.0 * R * T)), eta


def row_scales(grid: Grid) -> np.ndarray:
    """Multipliers that make every residual row O(1) for Newton's stopping test."""
    pv = grid.params.values
    s = np.ones(grid.size)
    s[grid.slices["cs_n"]] = 1.0 / pv["negative"]["c_max"]
    s[grid.slices["cs_p"]] = 1.0 / pv["positive"]["c_max"]
    s[grid.slices["ce"]] = 1.0 / pv["electrolyte"]["c_init"]
    i_typ = pv["cell"]["nominal_capacity_Ah"] / grid.area  # 1C current density
    s[grid.slices["phie"]] = grid.h / i_typ
    s[grid.slices["phis_n"]] = grid.h[: grid.nx_n] / i_typ
    s[grid.slices["phis_p"]] = grid.h[-grid.nx_p:] / i_typ
    s[grid.slices["I"]] = 1.0 / pv["cell"]["nominal_capacity_Ah"]
    return s


THERMAL_KEYS = ("heat_transfer_coefficient", "cooling_area", "volume", "initial_temperature",
                "negative_current_collector_thickness", "positive_current_collector_thickness",
                "negative_current_collector_density", "positive_current_collector_density",
                "negative_current_collector_specific_heat", "positive_current_collector_specific_heat",
                "negative_current_collector_conductivity", "positive_current_collector_conductivity")


def thermal_constants(grid: Grid) -> dict:
    """Lumped-model constants (PyBaMM's "lumped" option): heat capacity per volume of the layer
    stack incl. current collectors, cooling h*A/V, and the collectors' ohmic factor L_cc/sigma_cc."""
    pv = grid.params.values
    cell = pv["cell"]
    missing = [k for k in THERMAL_KEYS if k not in cell]
    if missing:
        from bda_hpc.errors import InputError
        raise InputError(f"parameter set {grid.params.name}: the lumped thermal model needs cell.{missing[0]}")
    layers = [(cell["negative_current_collector_thickness"],
               cell["negative_current_collector_density"] * cell["negative_current_collector_specific_heat"])]
    layers += [(pv[k]["thickness"], pv[k]["density"] * pv[k]["specific_heat"])
               for k in ("negative", "separator", "positive")]
    layers.append((cell["positive_current_collector_thickness"],
                   cell["positive_current_collector_density"] * cell["positive_current_collector_specific_heat"]))
    total = sum(L for L, _ in layers)
    return {
        "rho_cp": sum(L * rc for L, rc in layers) / total,
        "cool": cell["heat_transfer_coefficient"] * cell["cooling_area"] / cell["volume"],
        "area_over_volume": grid.area / cell["volume"],
        "cc_factor": (cell["negative_current_collector_thickness"] / cell["negative_current_collector_conductivity"]
                      + cell["positive_current_collector_thickness"] / cell["positive_current_collector_conductivity"]),
    }


def heat_per_area(grid: Grid, i_s_n, i_s_p, i_e, grad_phie_edges, aj, eta_all, dUdT_all, T, i_cc, cc_factor):
    """Heat generated per electrode area (W/m^2): ohmic (solid, electrolyte, collectors),
    irreversible a j eta and reversible a j T dU/dT. Edge quantities are averaged to the cell
    centres first, as PyBaMM's inner() does."""
    def centre(edge):
        return 0.5 * (edge[1:] + edge[:-1])
    q = -centre(i_e) * centre(grad_phie_edges)
    q[: grid.nx_n] += centre(i_s_n) ** 2 / grid.sigma_n
    q[-grid.nx_p:] += centre(i_s_p) ** 2 / grid.sigma_p
    q += aj * (eta_all + T * dUdT_all)
    return float(q @ grid.h) + i_cc**2 * cc_factor


def rhs(grid: Grid, u: np.ndarray, control: int, setpoint: float,
        thermal: bool = False) -> tuple[np.ndarray, dict]:
    """f(u): time derivatives for differential rows, residuals for algebraic rows (unscaled)."""
    pv = grid.params.values
    el = pv["electrolyte"]
    v = grid.split(u)
    T = v["T"][0]
    T_ref = pv["cell"]["reference_temperature"]
    nn, npos = grid.nx_n, grid.nx_p
    ce, phie = v["ce"], v["phie"]
    i_cc = v["I"][0] / grid.area

    j_n, eta_n = interfacial_current(grid, "negative", v["cs_n"], ce[:nn], v["phis_n"], phie[:nn], T)
    j_p, eta_p = interfacial_current(grid, "positive", v["cs_p"], ce[-npos:], v["phis_p"], phie[-npos:], T)
    aj = np.zeros(grid.nx)
    aj[:nn] = grid.a_n * j_n
    aj[-npos:] = grid.a_p * j_p

    # electrolyte current on interior edges; zero flux at x = 0 and x = L
    kappa = grid.params.tables["electrolyte.conductivity"](ce) * arrhenius(
        el.get("conductivity_activation_energy", 0.0), T, T_ref) * grid.tor_e
    chi = 2 * (1 - el["transference_number"]) * el["thermodynamic_factor"] * R * T / (F * ce)
    grad_ce = np.diff(ce) / grid.d_nodes
    grad_phie = np.diff(phie) / grid.d_nodes
    i_e = np.zeros(grid.nx + 1)
    i_e[1:-1] = arithmetic(grid.beta, kappa[:-1], kappa[1:]) * (
        harmonic(grid.beta, chi[:-1], chi[1:]) * grad_ce - grad_phie)
    De = grid.params.tables["electrolyte.diffusivity"](ce) * arrhenius(
        el.get("diffusivity_activation_energy", 0.0), T, T_ref) * grid.tor_e
    N_e = np.zeros(grid.nx + 1)
    N_e[1:-1] = -harmonic(grid.beta, De[:-1], De[1:]) * grad_ce
    N_e += el["transference_number"] * i_e / F

    f = np.zeros(grid.size)
    out = grid.split(f)
    out["ce"][:] = (-np.diff(N_e) / grid.h + aj / F) / grid.eps
    out["phie"][:] = np.diff(i_e) / grid.h - aj

    # solid current: phi_s = 0 at x = 0 (ghost node), i_s = i_cc at x = L
    i_s_edges = {}
    for name, sig, hh, ajk, left_dirichlet in (
            ("phis_n", grid.sigma_n, grid.h[0], aj[:nn], True),
            ("phis_p", grid.sigma_p, grid.h[-1], aj[-npos:], False)):
        phis = v[name]
        i_s = np.zeros(len(phis) + 1)
        i_s[1:-1] = -sig * np.diff(phis) / hh
        if left_dirichlet:
            i_s[0] = -sig * 2 * phis[0] / hh
        else:
            i_s[-1] = i_cc
        out[name][:] = np.diff(i_s) / hh + ajk
        i_s_edges[name] = i_s

    for name, key, j in (("cs_n", "negative", j_n), ("cs_p", "positive", j_p)):
        p = pv[key]
        D = p["diffusivity"] * arrhenius(p.get("diffusivity_activation_energy", 0.0), T, T_ref)
        re = grid.r_edges_n if key == "negative" else grid.r_edges_p
        out[name][:] = particle_rhs(v[name], j, D, p["particle_radius"], re)

    V = grid.voltage(u)
    if control == CONTROL_CURRENT:
        out["I"][0] = v["I"][0] - setpoint
    elif control == CONTROL_VOLTAGE:
        out["I"][0] = V - setpoint
    else:
        out["I"][0] = v["I"][0] * V - setpoint
    grad_phie_edges = np.zeros(grid.nx + 1)
    grad_phie_edges[1:-1] = grad_phie
    eta_all, dUdT_all = np.zeros(grid.nx), np.zeros(grid.nx)
    eta_all[:nn], eta_all[-npos:] = eta_n, eta_p
    dUdT_all[:nn] = pv["negative"].get("ocp_entropic_change", 0.0)
    dUdT_all[-npos:] = pv["positive"].get("ocp_entropic_change", 0.0)
    heat = None
    if thermal:
        tc = thermal_constants(grid)
        heat = heat_per_area(grid, i_s_edges["phis_n"], i_s_edges["phis_p"], i_e, grad_phie_edges, aj,
                             eta_all, dUdT_all, T, i_cc, tc["cc_factor"])
        cooling = tc["cool"] * (T - pv["cell"]["ambient_temperature"])
        out["T"][0] = (heat * tc["area_over_volume"] - cooling) / tc["rho_cp"]
    else:
        out["T"][0] = 0.0  # isothermal: T stays at its initial value
    extras = {"j_n": j_n, "j_p": j_p, "eta_n": eta_n, "eta_p": eta_p, "i_e": i_e, "voltage": V,
              "heat_per_area": heat, "aj": aj}
    return f, extras


def residual(grid: Grid, u, udot, control: int, setpoint: float, thermal: bool = False) -> np.ndarray:
    """Scaled implicit residual F = S (M u' - f(u)), algebraic rows with M = 0."""
    f, _ = rhs(grid, u, control, setpoint, thermal)
    mask = grid.differential_mask()
    return row_scales(grid) * (mask * udot - f)
