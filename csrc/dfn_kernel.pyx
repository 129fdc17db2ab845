# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled DFN (P2D) residual and finite-difference-coloured Jacobian.

Loop-for-loop port of ``bda_hpc/cell/residual_ref.py`` (the slow twin the tests compare with):
F(u, u') = S (M u' - f(u)) on the finite-volume grid of ``bda_hpc/cell/grid.py``. The Jacobian
dF/du + shift dF/du' is assembled column-group by column-group: all columns of one colour are
perturbed at once (they share no row), so ~20 residual calls give the whole sparse matrix.
The dense row of the lumped temperature is the exception: only its diagonal is kept (an inexact
Newton Jacobian; the residual stays exact). Packing of the constants: ``KernelData`` in
``bda_hpc/cell/kernel.py``.
"""
import numpy as np
from libc.math cimport exp, sqrt, sinh, fabs


cdef double FARADAY = 96485.33212
cdef double GAS = 8.314462618


cdef inline double interp(const double* y, Py_ssize_t n, double x0, double dx, double x) noexcept nogil:
    """Linear interpolation on a uniform table, clamped at the ends (as np.interp)."""
    cdef double s = (x - x0) / dx
    cdef Py_ssize_t i
    if s <= 0.0:
        return y[0]
    if s >= n - 1:
        return y[n - 1]
    i = <Py_ssize_t> s
    return y[i] + (s - i) * (y[i + 1] - y[i])


cdef inline double arrhenius(double energy, double T, double T_ref) noexcept nogil:
    return exp(energy / GAS * (1.0 / T_ref - 1.0 / T))


cdef class DfnKernel:
    # sizes and block offsets
    cdef public int nxn, nxs, nxp, nx, nrn, nrp, size
    cdef int o_csn, o_csp, o_ce, o_phie, o_phisn, o_phisp, o_I, o_T
    # x grid
    cdef double[::1] h, eps, tor_e, d_nodes, beta, row_scale, mask
    # electrode constants, index 0 = negative, 1 = positive
    cdef double a[2]
    cdef double sigma[2]
    cdef double radius[2]
    cdef double cmax[2]
    cdef double Ds[2]
    cdef double Ea_Ds[2]
    cdef double mref[2]
    cdef double Ea_j[2]
    cdef double dUdT[2]
    # electrolyte
    cdef double tplus, tdf, Ea_De, Ea_kappa, T_ref, area
    # function tables
    cdef double[::1] ocp_n, ocp_p, De_tab, kappa_tab
    cdef double ocp_n_x0, ocp_n_dx, ocp_p_x0, ocp_p_dx, De_x0, De_dx, kappa_x0, kappa_dx
    # thermal
    cdef public int thermal
    cdef double rho_cp, cool, area_over_volume, cc_factor, T_amb
    # control: 0 current, 1 voltage, 2 power
    cdef public int control
    cdef public double setpoint
    cdef double fd_rel
    # work arrays
    cdef double[::1] f, aj, eta, ie, js, f0, f1, up, udp, kap_node, De_node, steps
    # particle shells (dimensionless radius): r^2 at outer edges and 1/volume, per electrode
    cdef double[::1] r2_n, r2_p, inv_vol_n, inv_vol_p

    def __init__(self, dict d):
        cdef int k
        self.nxn, self.nxs, self.nxp = d["nx"]
        self.nx = self.nxn + self.nxs + self.nxp
        self.nrn, self.nrp = d["nr"]
        self.o_csn, self.o_csp, self.o_ce, self.o_phie, self.o_phisn, self.o_phisp, self.o_I, self.o_T = d["offsets"]
        self.size = self.o_T + 1
        self.h, self.eps, self.tor_e = d["h"], d["eps"], d["tor_e"]
        self.d_nodes, self.beta = d["d_nodes"], d["beta"]
        self.row_scale, self.mask = d["row_scale"], d["mask"]
        for k in range(2):
            self.a[k] = d["a"][k]
            self.sigma[k] = d["sigma"][k]
            self.radius[k] = d["radius"][k]
            self.cmax[k] = d["cmax"][k]
            self.Ds[k] = d["Ds"][k]
            self.Ea_Ds[k] = d["Ea_Ds"][k]
            self.mref[k] = d["mref"][k]
            self.Ea_j[k] = d["Ea_j"][k]
            self.dUdT[k] = d["dUdT"][k]
        self.tplus, self.tdf = d["tplus"], d["tdf"]
        self.Ea_De, self.Ea_kappa = d["Ea_De"], d["Ea_kappa"]
        self.T_ref, self.area = d["T_ref"], d["area"]
        self.ocp_n, self.ocp_n_x0, self.ocp_n_dx = d["ocp_n"]
        self.ocp_p, self.ocp_p_x0, self.ocp_p_dx = d["ocp_p"]
        self.De_tab, self.De_x0, self.De_dx = d["De"]
        self.kappa_tab, self.kappa_x0, self.kappa_dx = d["kappa"]
        self.thermal = d["thermal"]
        self.rho_cp, self.cool = d["rho_cp"], d["cool"]
        self.area_over_volume, self.cc_factor, self.T_amb = d["area_over_volume"], d["cc_factor"], d["T_amb"]
        self.control, self.setpoint = 0, 0.0
        self.fd_rel = d["fd_rel"]
        self.f = np.zeros(self.size)
        self.aj = np.zeros(self.nx)
        self.eta = np.zeros(self.nx)
        self.ie = np.zeros(self.nx + 1)
        self.js = np.zeros(max(self.nxn, self.nxp) + 1)
        self.f0 = np.zeros(self.size)
        self.f1 = np.zeros(self.size)
        self.up = np.zeros(self.size)
        self.udp = np.zeros(self.size)
        self.steps = np.zeros(self.size)
        self.kap_node = np.zeros(self.nx)
        self.De_node = np.zeros(self.nx)
        self.r2_n, self.inv_vol_n = self._shells(self.nrn)
        self.r2_p, self.inv_vol_p = self._shells(self.nrp)

    @staticmethod
    def _shells(int nr):
        edges = np.linspace(0.0, 1.0, nr + 1)
        return np.ascontiguousarray(edges[1:] ** 2), np.ascontiguousarray(3.0 / (edges[1:] ** 3 - edges[:-1] ** 3))

    cdef double voltage_c(self, const double[::1] u) noexcept nogil:
        return 1.5 * u[self.o_phisp + self.nxp - 1] - 0.5 * u[self.o_phisp + self.nxp - 2]

    def voltage(self, const double[::1] u):
        return self.voltage_c(u)

    def extremes(self, const double[::1] u, double[::1] out):
        """out = [V, min/max surface stoichiometry (n), min/max (p), min c_e] for the event indicators."""
        cdef int k, i, nxk, nr, base
        cdef double x
        out[0] = self.voltage_c(u)
        for k in range(2):
            nxk = self.nxn if k == 0 else self.nxp
            nr = self.nrn if k == 0 else self.nrp
            out[1 + 2 * k] = 1e300
            out[2 + 2 * k] = -1e300
            for i in range(nxk):
                base = (self.o_csn if k == 0 else self.o_csp) + i * nr
                x = (1.5 * u[base + nr - 1] - 0.5 * u[base + nr - 2]) / self.cmax[k]
                if x < out[1 + 2 * k]:
                    out[1 + 2 * k] = x
                if x > out[2 + 2 * k]:
                    out[2 + 2 * k] = x
        out[5] = 1e300
        for i in range(self.nx):
            if u[self.o_ce + i] < out[5]:
                out[5] = u[self.o_ce + i]

    cdef void electrode(self, int k, const double[::1] u, double T, double* heat) noexcept nogil:
        """Kinetics, particle diffusion and solid current of electrode k (0 = n, 1 = p)."""
        cdef int nxk = self.nxn if k == 0 else self.nxp
        cdef int nr = self.nrn if k == 0 else self.nrp
        cdef int ocs = self.o_csn if k == 0 else self.o_csp
        cdef int ophis = self.o_phisn if k == 0 else self.o_phisp
        cdef int x_first = 0 if k == 0 else self.nx - self.nxp
        cdef double hh = self.h[x_first]
        cdef double D = self.Ds[k] * arrhenius(self.Ea_Ds[k], T, self.T_ref)
        cdef double jfac = self.mref[k] * arrhenius(self.Ea_j[k], T, self.T_ref)
        cdef double inv_dr = <double> nr
        cdef double inv_R2 = 1.0 / (self.radius[k] * self.radius[k])
        cdef double[::1] r2 = self.r2_n if k == 0 else self.r2_p
        cdef double[::1] inv_vol = self.inv_vol_n if k == 0 else self.inv_vol_p
        cdef double i_cc = u[self.o_I] / self.area
        cdef double cs_surf, ocp, j0, eta, j, ce, flux_in, flux_out
        cdef double i_left, i_right, i_s_mid
        cdef int i, m, base, xi
        for i in range(nxk):
            xi = x_first + i
            base = ocs + i * nr
            cs_surf = 1.5 * u[base + nr - 1] - 0.5 * u[base + nr - 2]
            if k == 0:
                ocp = interp(&self.ocp_n[0], self.ocp_n.shape[0], self.ocp_n_x0, self.ocp_n_dx, cs_surf / self.cmax[0])
            else:
                ocp = interp(&self.ocp_p[0], self.ocp_p.shape[0], self.ocp_p_x0, self.ocp_p_dx, cs_surf / self.cmax[1])
            ocp = ocp + (T - self.T_ref) * self.dUdT[k]
            ce = u[self.o_ce + xi]
            j0 = jfac * sqrt(ce) * sqrt(cs_surf) * sqrt(self.cmax[k] - cs_surf)
            eta = u[ophis + i] - u[self.o_phie + xi] - ocp
            j = 2.0 * j0 * sinh(FARADAY * eta / (2.0 * GAS * T))
            self.aj[xi] = self.a[k] * j
            self.eta[xi] = eta
            # particle shells: dimensionless r, flux -D dc/dr * r^2 on shell edges
            flux_in = 0.0
            for m in range(nr):
                if m < nr - 1:
                    flux_out = -D * (u[base + m + 1] - u[base + m]) * inv_dr * r2[m]
                else:
                    flux_out = j * self.radius[k] / FARADAY  # -D * (-j R / (F D)) * 1^2
                self.f[base + m] = -(flux_out - flux_in) * inv_vol[m] * inv_R2
                flux_in = flux_out
        # solid current on edges: phi_s = 0 at x = 0 (ghost node) / i_s = i_cc at x = L
        for i in range(nxk + 1):
            if i == 0:
                self.js[i] = -self.sigma[k] * 2.0 * u[ophis] / hh if k == 0 else 0.0
            elif i == nxk:
                self.js[i] = 0.0 if k == 0 else i_cc
            else:
                self.js[i] = -self.sigma[k] * (u[ophis + i] - u[ophis + i - 1]) / hh
        for i in range(nxk):
            self.f[ophis + i] = (self.js[i + 1] - self.js[i]) / hh + self.aj[x_first + i]
            i_s_mid = 0.5 * (self.js[i] + self.js[i + 1])
            heat[0] += (i_s_mid * i_s_mid / self.sigma[k]
                        + self.aj[x_first + i] * (self.eta[x_first + i] + T * self.dUdT[k])) * hh

    cdef void rhs_c(self, const double[::1] u) noexcept nogil:
        """f(u) into self.f (unscaled): time derivatives and algebraic residuals."""
        cdef double T = u[self.o_T]
        cdef double heat = 0.0
        cdef double i_cc = u[self.o_I] / self.area
        cdef double chi0 = 2.0 * (1.0 - self.tplus) * self.tdf * GAS * T / FARADAY
        cdef double fk = arrhenius(self.Ea_kappa, T, self.T_ref)
        cdef double fD = arrhenius(self.Ea_De, T, self.T_ref)
        cdef double c1, c2, b, kap, chi, Deff, grad_ce, grad_phie, ne_left, ne_right
        cdef double grad_prev = 0.0, gp_mid, ie_mid
        cdef int i, e
        for i in range(self.nx):
            self.aj[i] = 0.0
            self.eta[i] = 0.0
        self.electrode(0, u, T, &heat)
        self.electrode(1, u, T, &heat)
        for i in range(self.nx):
            c1 = u[self.o_ce + i]
            self.kap_node[i] = interp(&self.kappa_tab[0], self.kappa_tab.shape[0], self.kappa_x0, self.kappa_dx, c1) * fk * self.tor_e[i]
            self.De_node[i] = interp(&self.De_tab[0], self.De_tab.shape[0], self.De_x0, self.De_dx, c1) * fD * self.tor_e[i]
        self.ie[0] = 0.0
        self.ie[self.nx] = 0.0
        ne_left = 0.0
        for e in range(1, self.nx + 1):
            if e < self.nx:
                c1 = u[self.o_ce + e - 1]
                c2 = u[self.o_ce + e]
                b = self.beta[e - 1]
                kap = (1.0 - b) * self.kap_node[e - 1] + b * self.kap_node[e]
                chi = chi0 / (b * c1 + (1.0 - b) * c2)
                Deff = 1.0 / (b / self.De_node[e - 1] + (1.0 - b) / self.De_node[e])
                grad_ce = (c2 - c1) / self.d_nodes[e - 1]
                grad_phie = (u[self.o_phie + e] - u[self.o_phie + e - 1]) / self.d_nodes[e - 1]
                self.ie[e] = kap * (chi * grad_ce - grad_phie)
                ne_right = -Deff * grad_ce + self.tplus * self.ie[e] / FARADAY
            else:
                grad_phie = 0.0
                ne_right = 0.0
            i = e - 1
            self.f[self.o_ce + i] = (-(ne_right - ne_left) / self.h[i] + self.aj[i] / FARADAY) / self.eps[i]
            self.f[self.o_phie + i] = (self.ie[e] - self.ie[e - 1]) / self.h[i] - self.aj[i]
            gp_mid = 0.5 * (grad_prev + grad_phie)
            ie_mid = 0.5 * (self.ie[e - 1] + self.ie[e])
            heat -= ie_mid * gp_mid * self.h[i]
            ne_left = ne_right
            grad_prev = grad_phie
        if self.control == 0:
            self.f[self.o_I] = u[self.o_I] - self.setpoint
        elif self.control == 1:
            self.f[self.o_I] = self.voltage_c(u) - self.setpoint
        else:
            self.f[self.o_I] = u[self.o_I] * self.voltage_c(u) - self.setpoint
        if self.thermal:
            heat += i_cc * i_cc * self.cc_factor
            self.f[self.o_T] = (heat * self.area_over_volume - self.cool * (T - self.T_amb)) / self.rho_cp
        else:
            self.f[self.o_T] = 0.0

    cdef void residual_c(self, const double[::1] u, const double[::1] udot, double[::1] out) noexcept nogil:
        cdef int i
        self.rhs_c(u)
        for i in range(self.size):
            out[i] = self.row_scale[i] * (self.mask[i] * udot[i] - self.f[i])

    def residual(self, const double[::1] u, const double[::1] udot, double[::1] out):
        """Scaled implicit residual F(u, u') into ``out``."""
        self.residual_c(u, udot, out)

    def rhs(self, const double[::1] u):
        """Unscaled f(u) (a copy)."""
        self.rhs_c(u)
        return np.asarray(self.f).copy()

    def jacobian_csc(self, const double[::1] u, const double[::1] udot, double shift,
                     const int[::1] colour_ptr, const int[::1] colour_cols,
                     const int[::1] col_ptr, const int[::1] col_rows, const int[::1] col_to_csr,
                     const double[::1] scales, double[::1] values):
        """dF/du + shift dF/du' by coloured finite differences.

        colour_cols[colour_ptr[c]:colour_ptr[c+1]] are the columns of colour c (no two share a row).
        The pattern is given by columns (col_ptr/col_rows, CSC) with col_to_csr mapping every CSC
        entry to its slot in the CSR ``values`` array handed to PETSc. Steps: fd_rel * max(|u|, scale).
        """
        cdef int c, q, col, p, n = self.size
        cdef double hstep
        cdef double[::1] steps = self.steps
        with nogil:
            for q in range(n):
                steps[q] = self.fd_rel * (fabs(u[q]) if fabs(u[q]) > scales[q] else scales[q])
            self.residual_c(u, udot, self.f0)
            for c in range(colour_ptr.shape[0] - 1):
                for q in range(n):
                    self.up[q] = u[q]
                    self.udp[q] = udot[q]
                for q in range(colour_ptr[c], colour_ptr[c + 1]):
                    col = colour_cols[q]
                    self.up[col] += steps[col]
                    self.udp[col] += shift * steps[col]
                self.residual_c(self.up, self.udp, self.f1)
                for q in range(colour_ptr[c], colour_ptr[c + 1]):
                    col = colour_cols[q]
                    hstep = steps[col]
                    for p in range(col_ptr[col], col_ptr[col + 1]):
                        values[col_to_csr[p]] = (self.f1[col_rows[p]] - self.f0[col_rows[p]]) / hstep

    def probe_pattern(self, const double[::1] u, const double[::1] steps):
        """(rows, cols) of every entry of dF/du + dF/du' that is non-zero at u (one column at a time)."""
        cdef int col, r, n = self.size
        cdef double[::1] ud = np.zeros(n)
        rows, cols = [], []
        self.residual_c(u, ud, self.f0)
        for col in range(n):
            for r in range(n):
                self.up[r] = u[r]
                self.udp[r] = 0.0
            self.up[col] += steps[col]
            self.udp[col] = steps[col]
            self.residual_c(self.up, self.udp, self.f1)
            for r in range(n):
                if self.f1[r] != self.f0[r] or r == col:
                    rows.append(r)
                    cols.append(col)
        return np.asarray(rows, dtype=np.int32), np.asarray(cols, dtype=np.int32)
