"""Finite-volume grid and state layout of the DFN model.

Why finite volumes (not finite elements): the peer we validate against, PyBaMM's DFN, is a
cell-centred finite-volume scheme (uniform cells per region in x, uniform cells in the
dimensionless particle radius r/R, spherical control volumes). Using the same scheme -- same
node placement, same edge averages (weighted-arithmetic for conductivities, harmonic for
diffusivities and the chi*RT/(F c) factor), same linear extrapolation for the particle surface
concentration and the terminal voltage -- makes the discrete systems identical, so a comparison
measures the solvers and not the discretisations. FV is also locally conservative, which is what
the lithium-inventory check tests to 1e-6.

State vector u (one cell; all blocks contiguous):
  c_s,n [nx_n, nr_n] | c_s,p [nx_p, nr_p] | c_e [nx] | phi_e [nx] | phi_s,n [nx_n] | phi_s,p [nx_p] | I | T
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import ParameterSet

FARADAY = 96485.33212
GAS_CONSTANT = 8.314462618


@dataclass(frozen=True)
class MeshSizes:
    """Number of finite volumes per region (x) and per particle (r); PyBaMM's default is 20 each."""

    x_n: int = 20
    x_s: int = 20
    x_p: int = 20
    r_n: int = 20
    r_p: int = 20

    def validate(self) -> list[str]:
        return [f"mesh.{k}: need at least 3 cells, got {v}" for k, v in vars(self).items() if v < 3]


class Grid:
    """Mesh, per-node material constants and the offsets of every block in the state vector."""

    def __init__(self, params: ParameterSet, mesh: MeshSizes = MeshSizes()):
        self.params, self.mesh = params, mesh
        n, s, p = (params.values[k] for k in ("negative", "separator", "positive"))
        self.nx_n, self.nx_s, self.nx_p = mesh.x_n, mesh.x_s, mesh.x_p
        self.nx = mesh.x_n + mesh.x_s + mesh.x_p
        self.nr_n, self.nr_p = mesh.r_n, mesh.r_p
        counts = (mesh.x_n, mesh.x_s, mesh.x_p)
        regions = (n, s, p)
        # cell widths h (x), porosity, Bruggeman transport efficiency and region tag per x cell
        self.h = np.concatenate([np.full(c, r["thickness"] / c) for c, r in zip(counts, regions)])
        self.eps = np.concatenate([np.full(c, r["porosity"]) for c, r in zip(counts, regions)])
        self.tor_e = np.concatenate([np.full(c, r["porosity"] ** r["bruggeman_electrolyte"])
                                     for c, r in zip(counts, regions)])
        self.region = np.repeat([0, 1, 2], counts)
        self.edges = np.concatenate([[0.0], np.cumsum(self.h)])
        self.nodes = 0.5 * (self.edges[1:] + self.edges[:-1])
        # interior edge e sits between cells e-1 and e (e = 1..nx-1)
        self.d_nodes = 0.5 * (self.h[1:] + self.h[:-1])
        self.beta = self.h[:-1] / (self.h[:-1] + self.h[1:])
        # electrodes: specific surface a = 3 eps_s / R and effective solid conductivity
        self.a_n = 3 * n["active_fraction"] / n["particle_radius"]
        self.a_p = 3 * p["active_fraction"] / p["particle_radius"]
        self.sigma_n = n["conductivity"] * n["active_fraction"] ** n["bruggeman_electrode"]
        self.sigma_p = p["conductivity"] * p["active_fraction"] ** p["bruggeman_electrode"]
        self.area = params["cell.electrode_height"] * params["cell.electrode_width"]
        # dimensionless particle mesh r/R in [0, 1]
        self.r_edges_n = np.linspace(0, 1, mesh.r_n + 1)
        self.r_edges_p = np.linspace(0, 1, mesh.r_p + 1)
        # offsets
        sizes = [("cs_n", mesh.x_n * mesh.r_n), ("cs_p", mesh.x_p * mesh.r_p), ("ce", self.nx),
                 ("phie", self.nx), ("phis_n", mesh.x_n), ("phis_p", mesh.x_p), ("I", 1), ("T", 1)]
        self.slices, start = {}, 0
        for name, size in sizes:
            self.slices[name] = slice(start, start + size)
            start += size
        self.size = start

    def split(self, u: np.ndarray) -> dict:
        """Views of the state blocks (particle blocks shaped [x cell, r cell])."""
        out = {k: u[s] for k, s in self.slices.items()}
        out["cs_n"] = out["cs_n"].reshape(self.nx_n, self.nr_n)
        out["cs_p"] = out["cs_p"].reshape(self.nx_p, self.nr_p)
        return out

    def differential_mask(self) -> np.ndarray:
        """1 for rows with a time derivative (c_s, c_e, T), 0 for algebraic rows."""
        mask = np.zeros(self.size)
        for name in ("cs_n", "cs_p", "ce", "T"):
            mask[self.slices[name]] = 1.0
        return mask

    def scales(self) -> np.ndarray:
        """Typical magnitude of every unknown: used for tolerances and finite-difference steps."""
        pv = self.params.values
        sc = np.ones(self.size)
        sc[self.slices["cs_n"]] = pv["negative"]["c_max"]
        sc[self.slices["cs_p"]] = pv["positive"]["c_max"]
        sc[self.slices["ce"]] = pv["electrolyte"]["c_init"]
        sc[self.slices["I"]] = pv["cell"]["nominal_capacity_Ah"]
        sc[self.slices["T"]] = 1.0
        return sc

    def initial_state(self, temperature: float | None = None, soc_concentrations=None) -> np.ndarray:
        """Uniform initial concentrations; potentials from the open-circuit values (refined later)."""
        pv = self.params.values
        cn, cp = soc_concentrations or (pv["negative"]["c_init"], pv["positive"]["c_init"])
        u = np.zeros(self.size)
        v = self.split(u)
        v["cs_n"][:] = cn
        v["cs_p"][:] = cp
        v["ce"][:] = pv["electrolyte"]["c_init"]
        un = float(self.params.tables["negative.ocp"](cn / pv["negative"]["c_max"]))
        up = float(self.params.tables["positive.ocp"](cp / pv["positive"]["c_max"]))
        v["phie"][:] = -un
        v["phis_n"][:] = 0.0
        v["phis_p"][:] = up - un
        v["T"][:] = temperature if temperature is not None else pv["cell"]["ambient_temperature"]
        return u

    def voltage(self, u: np.ndarray) -> float:
        """Terminal voltage: phi_s linearly extrapolated to x = L (phi_s = 0 at x = 0)."""
        phis_p = u[self.slices["phis_p"]]
        return float(1.5 * phis_p[-1] - 0.5 * phis_p[-2])

    def lithium_in_solid(self, u: np.ndarray) -> tuple[float, float]:
        """Moles of Li in the negative and in the positive particles (FV volume sums), per electrode area."""
        v, pv = self.split(u), self.params.values
        totals = []
        for name, key, nx, re in (("cs_n", "negative", self.nx_n, self.r_edges_n),
                                  ("cs_p", "positive", self.nx_p, self.r_edges_p)):
            shell = (re[1:] ** 3 - re[:-1] ** 3)  # fraction of the particle volume per shell
            per_x = v[name] @ shell  # mean concentration per x cell
            thick = pv[key]["thickness"]
            totals.append(pv[key]["active_fraction"] * thick / nx * per_x.sum())
        return totals[0], totals[1]
