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
from . import analysis, scripts
from .environment import LammpsEnv
from .runner import read_dump_frames, read_log, run_lammps
from .settings import MDSettings

log = logging.getLogger("bda_hpc.md")
A2_PER_PS = 1e-8          # Å²/ps -> m²/s
EV = 1.602176634e-19      # J


class MDStage:
    """Runs the tasks of one `[md]` configuration in ``out_dir`` with ``potential`` (pair lines)."""

    def __init__(self, settings: MDSettings, env: LammpsEnv, potential: str, out_dir: Path):
        self.s, self.env, self.potential, self.out_dir = settings, env, potential, Path(out_dir)

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
            D, err = analysis.diffusivity(t, msd, 3)
            log.info("self-diffusion at %g K: D = %.4g ± %.2g Å²/ps", T, D, err)
            Ds.append(D)
            errs.append(err)
            curves[f"T{T:g}"] = (t, msd)
        result = {"temperatures_K": list(d.temperatures), "D_A2_per_ps": Ds, "D_stderr_A2_per_ps": errs,
                  "atoms": 2 * int(np.prod(d.repeat)) - d.vacancies, "vacancies": d.vacancies}
        if all(D > 0 for D in Ds):
            result.update(analysis.arrhenius(d.temperatures, Ds))
        else:
            log.warning("self-diffusion: a diffusivity is not positive (%s): no Arrhenius fit; run longer", Ds)
        _plot_msd(self.out_dir / "diffusion.png", curves, "self-diffusion (MSD, all atoms)", result)
        return result

    def surface(self) -> dict:
        g = self.s.surface
        result, curves = {"temperature_K": g.temperature}, {}
        for facet in ("100", "110"):
            table = self.lammps(f"surface/{facet}", lambda resume, f=facet: scripts.surface_diffusion(
                self.s, self.potential, f, resume))
            # one adatom: average its in-plane MSD over all time origins, lags up to a quarter of the run
            t, x = _production(table, "v_ax")
            xy = np.column_stack([analysis.unwrap(x, table["Lx"][-1]),
                                  analysis.unwrap(_production(table, "v_ay")[1], table["Ly"][-1])])
            lags = len(t) // 4
            msd = analysis.time_averaged_msd(xy, lags)
            t = t[:lags + 1]
            D, err = analysis.diffusivity(t, msd, 2)
            log.info("adatom on (%s) at %g K: D = %.4g ± %.2g Å²/ps", facet, g.temperature, D, err)
            result[f"D_{facet}_A2_per_ps"], result[f"D_{facet}_stderr_A2_per_ps"] = D, err
            curves[f"({facet})"] = (t, msd)
        _plot_msd(self.out_dir / "surface.png", curves, f"adatom in-plane MSD, {g.temperature:g} K", None)
        return result

    def deposition(self) -> dict:
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
        _plot(self.out_dir / "deposition.png", np.array(times), [("rough", "roughness (Å)"), ("n", "atoms")],
              {"rough": np.array(rough), "n": np.array(counts)}, f"deposition at {rate:.3g} atoms/(Å² ps)")
        return {"time_ps": times, "roughness_A": rough, "atoms": counts, "rate_per_A2_ps": rate,
                "temperature_K": d.temperature}


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
        fit = analysis.arrhenius(diff["temperatures_K"], equilibrium_self_diffusion(
            diff["temperatures_K"], diff["D_A2_per_ps"], fraction, formation_energy))
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
            D, err = surf[f"D_{facet}_A2_per_ps"], surf[f"D_{facet}_stderr_A2_per_ps"]
            if not analysis.resolved(D, err):
                log.warning("adatom diffusion on (%s) not resolved (D = %.3g ± %.2g Å²/ps): not written to "
                            "li_metal.h5; run longer", facet, D, err)
                continue
            out[f"surface_diffusion_{facet}"] = Parameter(
                D * A2_PER_PS, "m^2/s", f"Li adatom diffusivity on bcc Li ({facet})",
                "LAMMPS bda/nnp NVT, in-plane MSD of one adatom averaged over time origins", err * A2_PER_PS)
        if any(k.startswith("surface_diffusion_") for k in out):
            out["surface_diffusion_temperature"] = Parameter(surf["temperature_K"], "K",
                                                             "temperature of surface_diffusion_100/110", "set")
    return out


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
