"""The `md` stage: Li MD tasks in LAMMPS with the bda/nnp plugin, their analysis, plots and li_metal.h5.

Tasks (each in its own folder under the output directory, each resumable):
``run``        one bulk run (NVE/NVT/NPT): traj.lammpstrj for OVITO, restart files, thermo.png
``diffusion``  MSD at several temperatures -> D(T), Arrhenius D0 and Q (diffusion.png)
``surface``    adatom on (100) and (110) -> in-plane surface diffusivities (surface.png)
``deposition`` Li atoms added above a (100) surface at a set rate -> roughness(t) (deposition.png)

A task folder with done.json is finished and is read, not rerun; one with restart files
continues from the newer one. li_metal.h5 (stage `atomistic`) carries the upstream atomistic
parameters, when given, plus the new ones, for the phase-field stage.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ...errors import SolverError
from . import analysis, scripts, surface_neb
from .environment import LammpsEnv
from .runner import ThermoParser, read_dump_frames, read_log, run_lammps
from .settings import MDSettings

log = logging.getLogger("bda_hpc.md")
A2_PER_PS = 1e-8          # Å²/ps -> m²/s
LAYER_MSD_CRYSTALLINE = 1.0  # Å²: a crystalline surface layer vibrates (~0.3 Å² at 300 K), it does not wander
PLATING_1MA_CM2 = 1e-3 / 1.602176634e-19 / 1e16   # Li atoms / (Å² s) deposited by 1 mA/cm²
EV = 1.602176634e-19      # J


class MDStage:
    """Runs the tasks of one `[md]` configuration in ``out_dir`` with ``potential`` (pair lines)."""

    def __init__(self, settings: MDSettings, env: LammpsEnv, potential: str, out_dir: Path, model: Path):
        """``model``: the HDF5/.nnp model file (the NEB of the surface task runs it through ASE)."""
        self.s, self.env, self.potential, self.out_dir, self.model = settings, env, potential, Path(out_dir), model

    def lammps(self, name: str, build) -> dict:
        """Run (or resume, or skip when done) one LAMMPS job in out_dir/name; its thermo table."""
        workdir = self.out_dir / name
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / "done.json").is_file():
            log.info("%s: finished earlier, reading %s", name, workdir / "log.lammps")
            return read_log(workdir / "log.lammps")
        restarts = sorted(workdir.glob("restart.[ab]"), key=lambda p: p.stat().st_mtime)
        resume = restarts[-1].name if restarts else None
        log.info("%s: %s LAMMPS on %d ranks in %s", name, f"resuming from {resume}," if resume else "starting",
                 self.s.nprocs, workdir)

        def progress(row):
            log.info("%s: step %d %s", name, row["Step"],
                     " ".join(f"{k}={v:.5g}" for k, v in row.items() if k not in ("Step", "Time")))

        run_lammps(self.env, build(resume), workdir, self.s.nprocs, progress)
        (workdir / "done.json").write_text(json.dumps({"task": name}))
        return read_log(workdir / "log.lammps")

    # ---- tasks -------------------------------------------------------------------------------
    def run(self) -> dict:
        table = self.lammps("run", lambda resume: scripts.md_run(self.s, self.potential, resume))
        _plot(self.out_dir / "run" / "thermo.png", table["Time"],
              [("Temp", "T (K)"), ("PotEng", "E_pot (eV)"), ("TotEng", "E_tot (eV)"), ("Press", "p (bar)")],
              table, f"Li bcc, {self.s.run.ensemble.upper()}")
        n_atoms = 2 * int(np.prod(self.s.run.repeat))
        return {"mean_temperature_K": float(np.mean(table["Temp"][len(table["Temp"]) // 2:])),
                "mean_pressure_bar": float(np.mean(table["Press"][len(table["Press"]) // 2:])),
                "atoms": n_atoms}

    def diffusion(self) -> dict:
        d = self.s.diffusion
        Ds, errs, curves = [], [], {}
        for T in d.temperatures:
            table = self.lammps(f"diffusion/T{T:g}", lambda resume, T=T: scripts.self_diffusion(
                self.s, self.potential, T, resume))
            t, msd = _production(table, "c_msd[4]")
            D, err = analysis.msd_diffusivity(t, msd, 3)
            log.info("self-diffusion at %g K: D = %.4g ± %.2g Å²/ps", T, D, err)
            Ds.append(D)
            errs.append(err)
            curves[f"T{T:g}"] = (t, msd)
        result = {"temperatures_K": list(d.temperatures), "D_A2_per_ps": Ds, "D_stderr_A2_per_ps": errs,
                  "atoms": 2 * int(np.prod(d.repeat)) - d.vacancies, "vacancies": d.vacancies}
        if all(D > 0 for D in Ds):
            result.update(analysis.arrhenius(d.temperatures, Ds, errs))
        else:
            log.warning("self-diffusion: a diffusivity is not positive (%s): no Arrhenius fit; run longer", Ds)
        _plot_msd(self.out_dir / "diffusion.png", curves, "self-diffusion (MSD, all atoms)", result)
        return result

    def surface(self) -> dict:
        """Per facet: adatom D(T) from MD (blocked errors) and its Arrhenius fit where three or more
        temperatures resolve it; NEB hop/exchange barriers with harmonic-TST rates (cached in neb.json)."""
        g = self.s.surface
        result, curves = {"reference_temperature_K": g.reference_temperature}, {}
        for facet in ("100", "110"):
            temps = getattr(g, f"temperatures_{facet}")
            Ds, errs, layer = [], [], []
            for T in temps:
                table = self.lammps(f"surface/{facet}/T{T:g}", lambda resume, f=facet, T=T: scripts.surface_diffusion(
                    self.s, self.potential, f, T, resume))
                # the adatom feature (highest mobile atom), window-averaged displacements
                t, x = _production(table, "c_top[1]")
                xy = np.column_stack([analysis.unwrap(x, table["Lx"][-1]),
                                      analysis.unwrap(_production(table, "c_top[2]")[1], table["Ly"][-1])])
                msd = np.sum((xy - xy[0]) ** 2, axis=1)
                D, err = analysis.trajectory_diffusivity(t, xy, 2)
                # the surface layer's own mobility: ~0 for a crystalline surface, not for a disordered one
                t_layer, layer_msd = _production(table, "c_layermsd[4]")
                layer_D, layer_err = analysis.msd_diffusivity(t_layer, layer_msd - layer_msd[0], 2)
                log.info("adatom on (%s) at %g K: D = %.4g ± %.2g Å²/ps (surface layer: %.2g ± %.2g Å²/ps, "
                         "MSD %.3g Å²)", facet, T, D, err, layer_D, layer_err, layer_msd[-1])
                Ds.append(D)
                errs.append(err)
                layer.append((layer_D, layer_err, float(layer_msd[-1])))
                curves[f"({facet}) {T:g} K"] = (t, msd)
            md = {"temperatures_K": list(temps), "D_A2_per_ps": Ds, "D_stderr_A2_per_ps": errs,
                  "surface_layer_D_A2_per_ps": [v[0] for v in layer],
                  "surface_layer_D_stderr_A2_per_ps": [v[1] for v in layer],
                  "surface_layer_final_msd_A2": [v[2] for v in layer],
                  "crystalline": [v[2] < LAYER_MSD_CRYSTALLINE for v in layer]}
            moved = [f"{T:g} K ({m:.3g} Å²)" for T, m, ok in zip(temps, md["surface_layer_final_msd_A2"],
                                                                   md["crystalline"]) if not ok]
            if moved:
                log.warning("(%s): the surface layer moved (final MSD) at %s: its atoms take the role of adatoms, "
                            "the followed feature is no single adatom; those temperatures are not used",
                            facet, ", ".join(moved))
            if len(temps) >= 3 and all(map(analysis.resolved, Ds, errs)) and all(md["crystalline"]):
                md.update(analysis.arrhenius(temps, Ds, errs))
            result[facet] = {"md": md}
        if g.neb:
            for facet, events in self._neb_events().items():
                result.setdefault(facet, {})["neb"] = {
                    "events": events,
                    "D_m2_per_s": surface_neb.diffusivity([surface_neb.HopEvent(**e) for e in events],
                                                          g.reference_temperature)}
        _plot_msd(self.out_dir / "surface.png", curves, "adatom in-plane MSD (single origin)", None)
        return result

    def _neb_events(self) -> dict:
        path = self.out_dir / "surface" / "neb.json"
        if path.is_file():
            return json.loads(path.read_text())
        if Path(self.model).suffix != ".h5":
            log.warning("surface: NEB skipped, it runs the HDF5 model through ASE and %s is not one", self.model)
            return {}
        from ..calculator import NNPCalculator

        calc = NNPCalculator(self.model)
        events = {facet: [e.__dict__ for e in surface_neb.facet_events(calc, facet, self.s.lattice_constant)]
                  for facet in ("100", "110")}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(events, indent=1))
        return events

    def deposition(self) -> dict:
        """Roughness(t) and the final height map of the attached atoms; the deposition rate against
        electroplating at 1 mA/cm²; the cost of the run (from LAMMPS's loop timings)."""
        d = self.s.deposition
        self.lammps("deposition", lambda resume: scripts.deposition(self.s, self.potential, resume))
        times, rough, counts = [], [], []
        for step, box, cols in read_dump_frames(self.out_dir / "deposition" / "traj.lammpstrj"):
            lx, ly = box[0, 1] - box[0, 0], box[1, 1] - box[1, 0]
            pos = np.column_stack([cols["x"] - box[0, 0], cols["y"] - box[1, 0], cols["z"]])
            times.append(step * self.s.timestep)
            rough.append(analysis.roughness(pos, lx, ly, bins=d.size[0]))  # one column per surface cell
            counts.append(len(pos))
        area = lx * ly
        rate = 1.0 / (d.interval * self.s.timestep) / area  # atoms / (Å² ps)
        monolayer = d.size[0] * d.size[1] / area             # (100): one atom per a² surface cell
        plating = PLATING_1MA_CM2 / monolayer                 # monolayers/s at 1 mA/cm²
        per_s = rate / monolayer * 1e12
        title = f"deposition at {per_s:.3g} monolayers/s ({per_s / plating:.1e} x 1 mA/cm²)"
        _plot(self.out_dir / "deposition.png", np.array(times), [("rough", "roughness (Å)"), ("n", "atoms")],
              {"rough": np.array(rough), "n": np.array(counts)}, title)
        heights = analysis.surface_heights(pos[analysis.attached(pos, lx, ly)], lx, ly, d.size[0])
        _plot_height_map(self.out_dir / "deposition_surface.png", heights, lx, ly, times[-1])
        parser = ThermoParser()
        for line in (self.out_dir / "deposition" / "log.lammps").read_text().splitlines():
            parser.feed(line)
        wall = sum(loop[0] for loop in parser.loops)
        atom_steps = sum(loop[2] for loop in parser.loops) * np.mean(counts)  # the atom count grows
        ranks = parser.loops[-1][1] if parser.loops else self.s.nprocs
        cpu_share = np.mean(parser.cpu_percent) / 100 if parser.cpu_percent else 1.0  # < 1 on shared cores
        return {"time_ps": times, "roughness_A": rough, "atoms": counts, "rate_per_A2_ps": rate,
                "rate_monolayers_per_s": per_s, "plating_1mA_cm2_monolayers_per_s": plating,
                "temperature_K": d.temperature, "wall_s": wall, "ranks": ranks,
                "us_per_atom_step_core": wall * ranks / max(atom_steps, 1) * 1e6, "cpu_share": cpu_share,
                "final_heights_A": heights.tolist()}


def _production(table: dict, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(time from the start of the production run, column) over the rows where the column exists."""
    if column not in table:
        raise SolverError(f"thermo output has no {column} column (columns: {', '.join(table)})")
    keep = np.isfinite(table[column])
    t = table["Time"][keep]
    return t - t[0], table[column][keep]


def parameters(results: dict, formation_energy: float | None = None) -> dict:
    """The li_metal.h5 parameters of the finished tasks (SI).

    Self-diffusion is measured with a fixed number of vacancies; the equilibrium coefficient needs
    the vacancy formation energy ``formation_energy`` (eV, from the upstream li_metal.h5) to scale
    each D(T) to the thermal vacancy fraction. Without it no self-diffusion parameter is written.
    """
    from ...io.params import Parameter
    from ..diffusion import equilibrium_self_diffusion

    out = {}
    diff = results.get("diffusion")
    fitted = bool(diff) and "activation_energy" in diff
    trusted = fitted and diff["activation_energy"] > 0 and all(
        map(analysis.resolved, diff["D_A2_per_ps"], diff["D_stderr_A2_per_ps"]))
    if fitted and not trusted:
        log.warning("self-diffusion not resolved (D = %s ± %s Å²/ps, Q = %.3g eV): not written to li_metal.h5; "
                    "run longer or larger", diff["D_A2_per_ps"], diff["D_stderr_A2_per_ps"], diff["activation_energy"])
    elif trusted and formation_energy is None:
        log.warning("self-diffusion: D at a fixed vacancy content is not the equilibrium coefficient and no vacancy "
                    "formation energy is known (give --params li_metal.h5 from `mlff properties`): not written")
    elif trusted:
        fraction = diff["vacancies"] / (diff["atoms"] + diff["vacancies"])
        # the scaling multiplies each D by a constant at its temperature: relative errors carry over
        scale = equilibrium_self_diffusion(diff["temperatures_K"], np.ones(len(diff["D_A2_per_ps"])), fraction,
                                           formation_energy)
        fit = analysis.arrhenius(diff["temperatures_K"], scale * diff["D_A2_per_ps"],
                                 scale * diff["D_stderr_A2_per_ps"])
        method = (f"LAMMPS bda/nnp NVT, MSD of {diff['atoms']} atoms with {diff['vacancies']} vacancies at "
                  f"{', '.join(f'{T:g}' for T in diff['temperatures_K'])} K, scaled to the equilibrium vacancy "
                  f"fraction exp(-E_f/kT), E_f = {formation_energy:.3f} eV (formation entropy neglected); "
                  "Arrhenius fit")
        out["self_diffusion_prefactor"] = Parameter(fit["prefactor"] * A2_PER_PS, "m^2/s",
                                                    "D0 of D_self = D0 exp(-Q/kT), equilibrium vacancies", method,
                                                    fit["prefactor_unc"] * A2_PER_PS)
        out["self_diffusion_activation_energy"] = Parameter(fit["activation_energy"] * EV, "J",
                                                            "Q of D_self = D0 exp(-Q/kT) (E_f + E_m)", method,
                                                            fit["activation_energy_unc"] * EV)
    surf = results.get("surface")
    if surf:
        for facet in ("100", "110"):
            found = _surface_diffusivity(facet, surf)
            if found is None:
                log.warning("adatom diffusion on (%s) resolved neither by MD nor by NEB: not written to li_metal.h5",
                            facet)
                continue
            D, err, method = found
            out[f"surface_diffusion_{facet}"] = Parameter(
                D, "m^2/s", f"Li adatom diffusivity on bcc Li ({facet}) at surface_diffusion_temperature", method, err)
        if any(k.startswith("surface_diffusion_") for k in out):
            out["surface_diffusion_temperature"] = Parameter(surf["reference_temperature_K"], "K",
                                                             "temperature of surface_diffusion_100/110", "set")
    return out


def _surface_diffusivity(facet: str, surf: dict) -> tuple[float, float, str] | None:
    """(D, its uncertainty in m²/s, method) at the reference temperature: the MD value there when
    resolved, else the MD Arrhenius fit, else NEB + harmonic TST (uncertainty: the value itself,
    a factor of two); None when none of them is available."""
    T0 = surf["reference_temperature_K"]
    md, neb = surf.get(facet, {}).get("md", {}), surf.get(facet, {}).get("neb")
    cross = f"; NEB + harmonic TST gives {neb['D_m2_per_s']:.2g} m^2/s" if neb else ""
    temps = md.get("temperatures_K", [])
    if T0 in temps:
        k = temps.index(T0)
        D, err = md["D_A2_per_ps"][k], md["D_stderr_A2_per_ps"][k]
        if analysis.resolved(D, err) and md.get("crystalline", [True] * len(temps))[k]:
            return D * A2_PER_PS, err * A2_PER_PS, (
                f"LAMMPS bda/nnp NVT, single-origin MSD of the adatom at {T0:g} K, block-averaged error{cross}")
    if "activation_energy" in md:
        kT = analysis.KB_EV * T0
        D = md["prefactor"] * np.exp(-md["activation_energy"] / kT)
        rel = np.hypot(md["prefactor_unc"] / md["prefactor"], md["activation_energy_unc"] / kT)
        return D * A2_PER_PS, D * rel * A2_PER_PS, (
            f"LAMMPS bda/nnp NVT adatom MSD at {', '.join(f'{T:g}' for T in temps)} K, Arrhenius fit "
            f"(Q = {md['activation_energy']:.3f} eV) evaluated at {T0:g} K{cross}")
    if neb:
        barriers = ", ".join(f"{e['name']} {e['barrier']:.3f} eV" for e in neb["events"])
        events = [surface_neb.HopEvent(**e) for e in neb["events"]]
        checks = "; ".join(
            f"MD {D * A2_PER_PS:.2g} ± {err * A2_PER_PS:.1g} vs TST {surface_neb.diffusivity(events, T):.2g} m^2/s "
            f"at {T:g} K" for T, D, err, ok in zip(temps, md.get("D_A2_per_ps", []), md.get("D_stderr_A2_per_ps", []),
                                                  md.get("crystalline", [])) if ok)
        return neb["D_m2_per_s"], neb["D_m2_per_s"], (
            f"climbing-image NEB ({barriers}) with Vineyard attempt frequencies of the moving atoms, "
            f"D = sum m nu exp(-E/kT) l^2 / 4 at {T0:g} K; uncertainty: a factor of two; "
            f"MD on a crystalline surface: {checks or 'none'}")
    return None


def _plot(path: Path, x, series, table, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(6, 2.2 * len(series)), sharex=True)
    for ax, (key, label) in zip(np.atleast_1d(axes), series):
        ax.plot(x, table[key])
        ax.set_ylabel(label)
    np.atleast_1d(axes)[-1].set_xlabel("time (ps)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_height_map(path: Path, heights: np.ndarray, lx: float, ly: float, time_ps: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    im = ax.imshow((heights - np.nanmean(heights)).T, origin="lower", extent=(0, lx, 0, ly), cmap="viridis")
    fig.colorbar(im, ax=ax, label="height - mean (Å)")
    ax.set(xlabel="x (Å)", ylabel="y (Å)", title=f"surface after {time_ps:.0f} ps (highest attached atom per column)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_msd(path: Path, curves: dict, title: str, arrhenius: dict | None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if arrhenius and "prefactor" in arrhenius else 1, figsize=(10, 4), squeeze=False)
    for label, (t, msd) in curves.items():
        axes[0, 0].plot(t, msd, label=label)
    axes[0, 0].set(xlabel="time (ps)", ylabel="MSD (Å²)", title=title)
    axes[0, 0].legend()
    if axes.shape[1] == 2:
        T = np.array(arrhenius["temperatures_K"])
        axes[0, 1].semilogy(1000 / T, arrhenius["D_A2_per_ps"], "o", label="MD")
        fit = arrhenius["prefactor"] * np.exp(-arrhenius["activation_energy"] / (analysis.KB_EV * T))
        axes[0, 1].semilogy(1000 / T, fit, "-", label=f"Q = {arrhenius['activation_energy']:.3f} eV")
        axes[0, 1].set(xlabel="1000 / T (1/K)", ylabel="D (Å²/ps)")
        axes[0, 1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
