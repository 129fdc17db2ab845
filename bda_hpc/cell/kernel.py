"""Python side of the compiled DFN kernel: pack the constants, find the Jacobian pattern, colour it."""

from __future__ import annotations

import numpy as np

from .grid import Grid
from .residual_ref import row_scales, thermal_constants

FD_REL = 1.5e-8  # forward-difference step relative to max(|u|, scale): ~sqrt(machine epsilon)


def _table(t):
    return (np.ascontiguousarray(t.y, float), float(t.x0), float(t.dx))


def kernel_data(grid: Grid, thermal: bool) -> dict:
    """Everything the compiled kernel needs, as plain numbers and contiguous arrays."""
    pv = grid.params.values
    n, p, el, cell = pv["negative"], pv["positive"], pv["electrolyte"], pv["cell"]
    sl = grid.slices
    both = (n, p)
    d = {
        "nx": (grid.nx_n, grid.nx_s, grid.nx_p),
        "nr": (grid.nr_n, grid.nr_p),
        "offsets": tuple(sl[k].start for k in ("cs_n", "cs_p", "ce", "phie", "phis_n", "phis_p", "I", "T")),
        "h": grid.h, "eps": grid.eps, "tor_e": grid.tor_e, "d_nodes": grid.d_nodes, "beta": grid.beta,
        "row_scale": row_scales(grid), "mask": grid.differential_mask(),
        "a": (grid.a_n, grid.a_p), "sigma": (grid.sigma_n, grid.sigma_p),
        "radius": tuple(e["particle_radius"] for e in both), "cmax": tuple(e["c_max"] for e in both),
        "Ds": tuple(e["diffusivity"] for e in both),
        "Ea_Ds": tuple(e.get("diffusivity_activation_energy", 0.0) for e in both),
        "mref": tuple(e["exchange_current_m_ref"] for e in both),
        "Ea_j": tuple(e["exchange_current_activation_energy"] for e in both),
        "dUdT": tuple(e.get("ocp_entropic_change", 0.0) for e in both),
        "tplus": el["transference_number"], "tdf": el["thermodynamic_factor"],
        "Ea_De": el.get("diffusivity_activation_energy", 0.0),
        "Ea_kappa": el.get("conductivity_activation_energy", 0.0),
        "T_ref": cell["reference_temperature"], "area": grid.area,
        "ocp_n": _table(grid.params.tables["negative.ocp"]), "ocp_p": _table(grid.params.tables["positive.ocp"]),
        "De": _table(grid.params.tables["electrolyte.diffusivity"]),
        "kappa": _table(grid.params.tables["electrolyte.conductivity"]),
        "thermal": int(thermal), "T_amb": cell["ambient_temperature"], "fd_rel": FD_REL,
        "rho_cp": 1.0, "cool": 0.0, "area_over_volume": 0.0, "cc_factor": 0.0,
    }
    if thermal:
        d.update(thermal_constants(grid))
    for key in ("h", "eps", "tor_e", "d_nodes", "beta", "row_scale", "mask"):
        d[key] = np.ascontiguousarray(d[key], float)
    return d


def make_kernel(grid: Grid, thermal: bool):
    from bda_hpc._ext.dfn_kernel import DfnKernel

    return DfnKernel(kernel_data(grid, thermal))


def fd_steps(grid: Grid, u: np.ndarray) -> np.ndarray:
    """Forward-difference steps: sqrt(machine eps) relative to the variable's size or scale."""
    return FD_REL * np.maximum(np.abs(u), grid.scales())


def greedy_colouring(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Colour columns so that no two columns of one colour have an entry in the same row."""
    order = np.argsort(cols, kind="stable")
    col_ptr = np.searchsorted(cols[order], np.arange(n + 1))
    col_rows = rows[order]
    row_order = np.argsort(rows, kind="stable")
    row_ptr = np.searchsorted(rows[row_order], np.arange(n + 1))
    row_cols = cols[row_order]
    colour = np.full(n, -1, dtype=np.int32)
    for c in range(n):
        taken = set()
        for r in col_rows[col_ptr[c]:col_ptr[c + 1]]:
            taken.update(colour[row_cols[row_ptr[r]:row_ptr[r + 1]]].tolist())
        k = 0
        while k in taken:
            k += 1
        colour[c] = k
    return colour


class JacobianPattern:
    """Sparsity (CSR for PETSc, CSC + colours for the kernel) of the DFN Jacobian."""

    def __init__(self, grid: Grid, kernel, u: np.ndarray):
        rng = np.random.default_rng(1)
        # probe at a slightly non-uniform state so no entry vanishes by symmetry
        probe = u * (1 + 1e-3 * rng.standard_normal(u.size)) + 1e-4 * rng.standard_normal(u.size) * (grid.scales() == 1)
        probe[grid.slices["I"]] = grid.scales()[grid.slices["I"]]  # I != 0 so dV/dphi_s shows in I*V
        saved = kernel.control
        kernel.control = 2  # power control: the I row then depends on I and V, covering every mode
        rows, cols = kernel.probe_pattern(probe, fd_steps(grid, probe))
        kernel.control = saved
        t = grid.slices["T"].start
        keep = (rows != t) | (cols == t)  # temperature row: diagonal only (inexact Newton)
        rows, cols = rows[keep], cols[keep]
        n = grid.size
        self.n = n
        csr_order = np.lexsort((cols, rows))
        self.indptr = np.searchsorted(rows[csr_order], np.arange(n + 1)).astype(np.int32)
        self.indices = cols[csr_order].astype(np.int32)
        csc_order = np.lexsort((rows, cols))
        self.col_ptr = np.searchsorted(cols[csc_order], np.arange(n + 1)).astype(np.int32)
        self.col_rows = rows[csc_order].astype(np.int32)
        slot = np.empty(rows.size, dtype=np.int32)
        slot[csr_order] = np.arange(rows.size, dtype=np.int32)
        self.col_to_csr = slot[csc_order]
        colour = greedy_colouring(n, rows, cols)
        self.n_colours = int(colour.max()) + 1
        by_colour = np.argsort(colour, kind="stable")
        self.colour_cols = by_colour.astype(np.int32)
        self.colour_ptr = np.searchsorted(colour[by_colour], np.arange(self.n_colours + 1)).astype(np.int32)
        self.values = np.zeros(rows.size)
        self.scales = np.ascontiguousarray(grid.scales())

    def assemble(self, grid: Grid, kernel, u, udot, shift) -> np.ndarray:
        """Fill ``self.values`` (in place: PETSc's matrix shares this array) and return it."""
        kernel.jacobian_csc(u, udot, shift, self.colour_ptr, self.colour_cols, self.col_ptr,
                            self.col_rows, self.col_to_csr, self.scales, self.values)
        return self.values
