"""The atomistic stage: Li metal properties with the NNP -> li_metal.h5 (SI units) and a comparison table.

Each finished step is stored in `properties_progress.json` in the output directory (keyed by
the model file's hash and the settings), so an interrupted run resumes where it stopped.
MD temperatures are shared among MPI ranks; the static steps run on rank 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from ..parallel import split_evenly, world

log = logging.getLogger("bda_hpc.atomistic")
EV = 1.602176634e-19  # J
GPA = 1e9
ANGSTROM = 1e-10
A2_PER_PS = 1e-8  # Å^2/ps -> m^2/s

QUICK = {
    "supercell": 2,
    "slab_layers": 5,
    "neb_images": 3,
    "md_temperatures": [350.0, 400.0, 450.0],
    "md_supercell": 2,
    "md_time_ps": 3.0,
    "md_equilibration_ps": 0.5,
    "fmax": 0.02,
}

EXPERIMENT = {  # REFERENCES.md §6 (value or range, units as in the table)
    "lattice_constant": "3.510 (298 K), 3.490 (110 K)",
    "bulk_modulus": "11-13",
    "c11": "13.5-17.3",
    "c12": "11.4-13.1",
    "c44": "8.4-8.8",
    "vacancy_formation_energy": "0.34",
    "self_diffusion_activation_energy": "0.55",
}


class Progress:
    """Finished steps, kept in a JSON file so that a rerun skips them."""

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key
        self.done = {}
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored.get("key") == key:
                self.done = stored["steps"]
                log.info("resuming: %d finished steps in %s", len(self.done), path)

    def step(self, name: str, fn):
        if name not in self.done:
            t0 = time.perf_counter()
            log.info("%s ...", name)
            self.done[name] = _plain(fn())
            log.info("%s done in %.0f s", name, time.perf_counter() - t0)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"key": self.key, "steps": self.done}))
            tmp.replace(self.path)
        return self.done[name]


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_plain(v) for v in obj]
    return float(obj) if isinstance(obj, (np.floating, np.integer)) else obj


def run_properties(args) -> int:
    from ..config import config_text
    from .calculator import NNPCalculator
    from .model_file import default_model_path, load_model
    from .settings import load_settings

    comm = world()
    full_settings = load_settings(args.config)
    settings = full_settings.properties
    if args.quick:
        settings = dataclasses.replace(settings, **QUICK)
    model_path = Path(args.model) if args.model else default_model_path()
    model = load_model(model_path)
    out_dir = Path(args.out_dir)
    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    key = hashlib.sha256(model_path.read_bytes() + repr(settings).encode()).hexdigest()
    progress = Progress(out_dir / "properties_progress.json", key)
    calc = NNPCalculator(model)
    s = settings
    static = None
    if comm.rank == 0:
        static = _static_properties(progress, calc, s)
    static = comm.bcast(static, root=0)
    md_progress = Progress(out_dir / f"properties_progress_md{comm.rank}of{comm.size}.json", key)
    md = _diffusion(md_progress, calc, s, static, comm)
    if comm.rank == 0:
        result = {**static, **md}
        _write(out_dir, result, model_path, config_text(args.config), _dft_data_paths(full_settings, args.config))
    comm.Barrier()
    return 0


def _static_properties(progress: Progress, calc, s) -> dict:
    from . import properties as bulk
    from . import properties_defects as defects

    lat = progress.step("bcc_lattice", lambda: bulk.bcc_lattice(calc))
    a0 = lat["lattice_constant"]
    phases = progress.step("phases", lambda: bulk.phase_energies(calc, a0, s.fmax))
    elastic = progress.step("elastic", lambda: bulk.elastic_constants(calc, a0))
    vac = progress.step("vacancy", lambda: defects.vacancy_formation(calc, a0, s.supercell, s.fmax))
    vac_small = (
        progress.step("vacancy_smaller", lambda: defects.vacancy_formation(calc, a0, s.supercell - 1, s.fmax))
        if s.supercell > 2
        else vac
    )
    vac["vacancy_formation_energy_unc"] = abs(vac["vacancy_formation_energy"] - vac_small["vacancy_formation_energy"])
    neb = progress.step("neb", lambda: defects.vacancy_migration(calc, a0, s.supercell, s.fmax, s.neb_images))
    surf = progress.step(
        "surfaces", lambda: defects.surface_energies(calc, a0, lat["energy"], s.slab_layers, s.vacuum, s.fmax)
    )
    return {"lattice": lat, "phases": phases, "elastic": elastic, "vacancy": vac, "neb": neb, "surfaces": surf}


def _diffusion(progress: Progress, calc, s, static, comm) -> dict:
    from .diffusion import arrhenius, equilibrium_self_diffusion, vacancy_md_diffusivity

    a0 = static["lattice"]["lattice_constant"]
    mine = split_evenly(len(s.md_temperatures), comm.size, comm.rank)
    local = {}
    for k in mine:
        T = s.md_temperatures[k]
        local[T] = progress.step(
            f"md_{T:g}K",
            lambda T=T, k=k: vacancy_md_diffusivity(
                calc, a0, s.md_supercell, T, s.md_time_ps, s.md_timestep_fs, s.md_equilibration_ps, s.seed + k
            ),
        )
    runs = {}
    for part in comm.allgather(_plain(local)):
        runs.update(part)
    temps = np.array(sorted(runs))
    d_cell = np.array([runs[T]["d_cell"] for T in temps])
    if np.any(d_cell <= 0):
        from ..errors import SolverError

        bad = ", ".join(f"{T:g} K" for T, d in zip(temps, d_cell) if d <= 0)
        raise SolverError(
            f"vacancy MD: the mean-square displacement did not grow at {bad}; "
            "raise md_time_ps or the temperatures in [mlff.properties]",
            collective=True,
        )
    migration = arrhenius(temps, d_cell)
    ef = static["vacancy"]["vacancy_formation_energy"]
    nsites = runs[temps[0]]["atoms"] + 1
    d_self = equilibrium_self_diffusion(temps, d_cell, 1 / nsites, ef)
    selfdiff = arrhenius(temps, d_self)
    return {
        "md": {
            "runs": runs,
            "temperatures": temps,
            "d_cell": d_cell,
            "d_self": d_self,
            "migration_fit": migration,
            "self_fit": selfdiff,
        }
    }


def _parameters(r: dict) -> dict:
    from ..io.params import Parameter

    lat, el, vac, neb, surf = r["lattice"], r["elastic"], r["vacancy"], r["neb"], r["surfaces"]
    fit = r["md"]["self_fit"]
    eos = "Birch-Murnaghan E(V) fit of bcc within ±1 % of a0 (uncertainty: vs SJ EOS and a 2x wider scan)"
    p = {
        "lattice_constant": Parameter(
            lat["lattice_constant"] * ANGSTROM,
            "m",
            "bcc lattice constant, 0 K",
            eos,
            lat["lattice_constant_unc"] * ANGSTROM,
        ),
        "bulk_modulus": Parameter(
            lat["bulk_modulus"] * EV / ANGSTROM**3,
            "Pa",
            "bulk modulus of bcc Li, 0 K",
            eos,
            lat["bulk_modulus_unc"] * EV / ANGSTROM**3,
        ),
        "vacancy_formation_energy": Parameter(
            vac["vacancy_formation_energy"] * EV,
            "J",
            "relaxed vacancy formation energy",
            f"supercell of {vac['atoms']} sites, positions relaxed (uncertainty: change "
            "from the next smaller supercell)",
            vac["vacancy_formation_energy_unc"] * EV,
        ),
        "vacancy_migration_energy": Parameter(
            neb["vacancy_migration_energy"] * EV,
            "J",
            "nearest-neighbour vacancy hop barrier",
            "climbing-image NEB (uncertainty: end-point energy mismatch)",
            neb["vacancy_migration_energy_unc"] * EV,
        ),
        "self_diffusion_prefactor": Parameter(
            fit["prefactor"] * A2_PER_PS,
            "m^2/s",
            "D0 of D_self = D0 exp(-Q/kT)",
            "vacancy MD at several T scaled by exp(-E_f/kT), Arrhenius fit (standard error)",
            fit["prefactor_unc"] * A2_PER_PS,
        ),
        "self_diffusion_activation_energy": Parameter(
            fit["activation_energy"] * EV,
            "J",
            "Q of D_self = D0 exp(-Q/kT)",
            "Arrhenius fit (standard error)",
            fit["activation_energy_unc"] * EV,
        ),
    }
    for name in ("c11", "c12", "c44"):
        p[name] = Parameter(
            el[name] * EV / ANGSTROM**3,  # eV/Å^3 (ASE stress units) -> Pa,
            "Pa",
            f"elastic constant {name.upper()} of bcc Li, 0 K",
            "central stress-strain differences (uncertainty: strain 0.5 % vs 1 %)",
            el[f"{name}_unc"] * EV / ANGSTROM**3,
        )
    for hkl in ("100", "110", "111"):
        p[f"surface_energy_{hkl}"] = Parameter(
            surf[f"surface_energy_{hkl}"],
            "J/m^2",
            f"relaxed ({hkl}) surface energy",
            "slab minus bulk (uncertainty: change with slab thickness)",
            surf[f"surface_energy_{hkl}_unc"],
        )
    return p


TABLE_UNITS = {
    "lattice_constant": ("Å", 1 / ANGSTROM),
    "bulk_modulus": ("GPa", 1 / GPA),
    "c11": ("GPa", 1 / GPA),
    "c12": ("GPa", 1 / GPA),
    "c44": ("GPa", 1 / GPA),
    "vacancy_formation_energy": ("eV", 1 / EV),
    "vacancy_migration_energy": ("eV", 1 / EV),
    "surface_energy_100": ("J/m^2", 1),
    "surface_energy_110": ("J/m^2", 1),
    "surface_energy_111": ("J/m^2", 1),
    "self_diffusion_prefactor": ("m^2/s", 1),
    "self_diffusion_activation_energy": ("eV", 1 / EV),
}


def comparison_table(parameters: dict, dft: dict, r: dict) -> str:
    lines = [f"{'property':<34} {'NNP':>22} {'DFT (data set)':>22} {'experiment':>26}  units", "-" * 116]
    for name, (units, factor) in TABLE_UNITS.items():
        p = parameters[name]
        nnp = f"{p.value * factor:.4g} ± {p.uncertainty * factor:.2g}"
        ref = dft.get(name)
        dft_text = "n/a" if ref is None else f"{ref[0]:.4g}" + (f" ± {ref[1]:.2g}" if ref[1] else "")
        lines.append(f"{name:<34} {nnp:>22} {dft_text:>22} {EXPERIMENT.get(name, 'n/a'):>26}  {units}")
    ph = r["phases"]
    lines.append(f"{'E(fcc) - E(bcc)':<34} {ph['energy_fcc_minus_bcc'] * 1e3:>22.3f} {'n/a':>22} {'n/a':>26}  meV/atom")
    lines.append(f"{'E(hcp) - E(bcc)':<34} {ph['energy_hcp_minus_bcc'] * 1e3:>22.3f} {'n/a':>22} {'n/a':>26}  meV/atom")
    return "\n".join(lines)


def _dft_data_paths(settings, config_path) -> list[Path]:
    """The DFT data named in [mlff.training], where present, for the table's DFT column."""
    from .settings import resolve

    names = [settings.training.training_data, settings.training.test_data]
    return [p for p in (resolve(n, config_path) for n in names if n) if p.is_file()]


def _write(out_dir: Path, r: dict, model_path: Path, config: str, dft_paths: list) -> None:
    from ..io.params import write_params
    from .dft_reference import dft_reference

    params = _parameters(r)
    dft = dft_reference(dft_paths) if dft_paths else {}
    md = r["md"]
    results = {
        "eos": {
            "volume": (np.array(r["lattice"]["volumes"]), "angstrom^3"),
            "energy": (np.array(r["lattice"]["energies"]), "eV"),
        },
        "phases": {k: (v, "eV" if k.startswith("energy") else "angstrom^3") for k, v in r["phases"].items()},
        "neb": {
            "path": (np.array(r["neb"]["neb_path"]), "angstrom"),
            "energy": (np.array(r["neb"]["neb_energies"]), "eV"),
        },
        "diffusion": {
            "temperature": (np.array(md["temperatures"]), "K"),
            "d_vacancy_cell": (np.array(md["d_cell"]) * A2_PER_PS, "m^2/s"),
            "d_self": (np.array(md["d_self"]) * A2_PER_PS, "m^2/s"),
            "migration_activation_energy": (md["migration_fit"]["activation_energy"], "eV"),
        },
    }
    write_params(out_dir / "li_metal.h5", "atomistic", params, results=results, config=config, inputs=[model_path])
    table = comparison_table(params, dft, r)
    (out_dir / "li_properties_table.txt").write_text(table + "\n")
    print(table)
    _plots(out_dir, r)
    log.info("wrote %s, li_properties_table.txt and plots", out_dir / "li_metal.h5")


def _plots(out_dir: Path, r: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .diffusion import KB

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].plot(r["lattice"]["volumes"], r["lattice"]["energies"], "o-")
    ax[0].set(xlabel="volume (Å³/atom)", ylabel="energy (eV/atom)", title="bcc E(V)")
    ax[1].plot(r["neb"]["neb_path"], r["neb"]["neb_energies"], "o-")
    ax[1].set(xlabel="path (Å)", ylabel="energy (eV)", title="vacancy hop (NEB)")
    md = r["md"]
    T = np.array(md["temperatures"])
    ax[2].semilogy(1000 / T, np.array(md["d_cell"]) * A2_PER_PS, "o", label="MD, one vacancy")
    ax[2].semilogy(1000 / T, np.array(md["d_self"]) * A2_PER_PS, "s", label="self-diffusion (equilibrium vacancies)")
    for fit in (md["migration_fit"], md["self_fit"]):
        ax[2].semilogy(1000 / T, fit["prefactor"] * A2_PER_PS * np.exp(-fit["activation_energy"] / (KB * T)), "-")
    ax[2].set(xlabel="1000 / T (1/K)", ylabel="D (m²/s)", title="Arrhenius")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "li_properties.png", dpi=110)
    plt.close(fig)
