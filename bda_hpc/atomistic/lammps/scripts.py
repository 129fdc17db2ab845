"""LAMMPS input scripts of the MD tasks (bulk run, self-diffusion, adatom diffusion, deposition).

Every script either builds its start structure or, when ``resume`` names a restart file,
reads it and runs on ``upto`` the same final step: a killed run continues where its last
restart file was written. Thermo output is appended to log.lammps across such restarts.
"""
from __future__ import annotations

from .settings import MDSettings

LI_MASS = 6.94  # g/mol


def header(boundary: str = "p p p") -> str:
    return ("units metal\natom_style atomic\natom_modify map array\n"
            f"boundary {boundary}\nlog log.lammps append\n")


def start(s: MDSettings, potential: str, create: str, resume: str | None, boundary: str = "p p p") -> str:
    """Header, then either the created structure with velocities or the restart file; the potential."""
    body = f"read_restart {resume}\n" if resume else create
    return header(boundary) + body + potential + "neighbor 1.0 bin\n" + \
        f"timestep {s.timestep}\n"


def bulk(s: MDSettings, repeat, temperature: float, vacancies: int = 0) -> str:
    """bcc crystal with velocities at ``temperature`` (NVE starts at 2T: equipartition halves it)."""
    nx, ny, nz = repeat
    lines = (f"lattice bcc {s.lattice_constant}\nregion box block 0 {nx} 0 {ny} 0 {nz}\n"
             f"create_box 1 box\nmass 1 {LI_MASS}\ncreate_atoms 1 box\n")
    if vacancies:
        lines += f"delete_atoms random count {vacancies} no all NULL {s.seed} compress yes\n"
    return lines + f"velocity all create {temperature} {s.seed} mom yes rot yes dist gaussian\n"


def integrator(s: MDSettings, ensemble: str, temperature: float, pressure: float = 0.0, group: str = "all") -> str:
    if ensemble == "nve":
        return f"fix integrate {group} nve\n"
    if ensemble == "nvt":
        return f"fix integrate {group} nvt temp {temperature} {temperature} {s.thermostat_damping}\n"
    return (f"fix integrate {group} npt temp {temperature} {temperature} {s.thermostat_damping} "
            f"iso {pressure} {pressure} {s.barostat_damping}\n")


def restart_lines(every: int) -> str:
    return f"restart {every} restart.a restart.b\n"


def md_run(s: MDSettings, potential: str, resume: str | None) -> str:
    r = s.run
    create = bulk(s, r.repeat, 2 * r.temperature if r.ensemble == "nve" else r.temperature)
    return (start(s, potential, create, resume) + integrator(s, r.ensemble, r.temperature, r.pressure)
            + "compute peatom all pe/atom\n"
            + f"dump traj all custom {r.dump_every} traj.lammpstrj id type x y z vx vy vz fx fy fz c_peatom\n"
            + "dump_modify traj sort id\n" + restart_lines(r.restart_every)
            + f"thermo {r.thermo_every}\nthermo_style custom step time temp pe ke etotal press vol\n"
            + "thermo_modify format float %.12g\n"
            + f"run {r.steps} upto\nwrite_restart final.restart\n")


def self_diffusion(s: MDSettings, potential: str, temperature: float, resume: str | None) -> str:
    d = s.diffusion
    total = d.equilibration_steps + d.steps
    # the MSD reference is taken after equilibration; compute msd keeps it in the restart files
    equilibrate = ("" if resume else integrator(s, "nvt", temperature)
                   + f"thermo {d.sample_every}\nrun {d.equilibration_steps}\nunfix integrate\n")
    return (start(s, potential, bulk(s, d.repeat, temperature, d.vacancies), resume) + equilibrate
            + integrator(s, "nvt", temperature) + "compute msd all msd com yes\n" + restart_lines(d.sample_every * 20)
            + f"thermo {d.sample_every}\nthermo_style custom step time temp pe press c_msd[4]\n"
            + f"run {total} upto\n")


def _slab(s: MDSettings, facet: str, size, layers: int, vacuum: float) -> str:
    """A bcc slab with a (100) or (110) top surface at z, bottom two layers frozen, ``vacuum`` Å above."""
    orient = {"100": "orient x 1 0 0 orient y 0 1 0 orient z 0 0 1",
              "110": "orient x 0 0 1 orient y 1 -1 0 orient z 1 1 0"}[facet]
    # one lattice repeat along z holds two atomic layers for both orientations
    nz = layers / 2
    return (f"lattice bcc {s.lattice_constant} {orient}\n"
            f"region box block 0 {size[0]} 0 {size[1]} -0.25 {nz + vacuum / s.lattice_constant} units lattice\n"
            f"create_box 1 box\nmass 1 {LI_MASS}\n"
            f"region solid block INF INF INF INF -0.01 {nz - 0.3} units lattice\ncreate_atoms 1 region solid\n"
            "region bottom block INF INF INF INF -0.01 0.7 units lattice\n")


def surface_diffusion(s: MDSettings, potential: str, facet: str, temperature: float, resume: str | None) -> str:
    """One adatom on the slab, NVT. The adatom *feature* is followed as the highest mobile atom
    (c_top: its x, y and z), not a fixed atom id: an exchange hands the role to another atom."""
    g = s.surface
    create = (_slab(s, facet, g.size, g.layers, s.surface.vacuum)
              + "variable ztop equal bound(all,zmax)+2.0\nvariable xa equal 0.37*lx\nvariable ya equal 0.41*ly\n"
              + "create_atoms 1 single ${xa} ${ya} ${ztop} units box\n"
              + f"velocity all create {2 * temperature} {s.seed} mom yes dist gaussian\n")
    # groups are kept in restart files; `toplayer` (the surface layer before the adatom is added)
    # tells whether the surface itself stays crystalline: its MSD plateaus, or grows when it disorders
    top = f"region top block INF INF INF INF {g.layers / 2 - 0.75} {g.layers / 2} units lattice\n"
    create = create.replace("create_atoms 1 single", top + "group toplayer region top\ncreate_atoms 1 single")
    groups = "" if resume else ("group frozen region bottom\ngroup mobile subtract all frozen\n"
                                "velocity frozen set 0 0 0\n")
    total = g.equilibration_steps + g.steps
    equilibrate = ("" if resume else f"thermo {g.sample_every}\nrun {g.equilibration_steps}\n")
    return (start(s, potential, create, resume, "p p f") + groups
            + integrator(s, "nvt", temperature, group="mobile") + equilibrate
            + "compute top mobile reduce max x y z replace 1 3 replace 2 3\ncompute layermsd toplayer msd\n"
            + restart_lines(g.sample_every * 40)
            + f"thermo {g.sample_every}\n"
            + "thermo_style custom step time temp pe lx ly c_top[1] c_top[2] c_top[3] c_layermsd[4]\n"
            + "thermo_modify lost error\n" + f"run {total} upto\n")


def deposition(s: MDSettings, potential: str, resume: str | None) -> str:
    d = s.deposition
    # incoming speed along -z for the given kinetic energy: v = sqrt(2E/m), Å/ps
    speed = (2 * d.energy * 1.602176634e-19 / (LI_MASS * 1.66053906660e-27)) ** 0.5 / 100.0
    height = d.layers / 2 + 3.0 + d.atoms / (2 * d.size[0] * d.size[1]) / 2
    create = _slab(s, "100", d.size, d.layers, (height - d.layers / 2 + 2) * s.lattice_constant) \
        + f"velocity all create {2 * d.temperature} {s.seed} mom yes dist gaussian\n"
    steps = d.atoms * d.interval
    # on resume the groups come from the restart file (mobile then includes the deposited atoms)
    groups = "" if resume else ("group frozen region bottom\ngroup mobile subtract all frozen\n"
                                "group substrate subtract all frozen\nvelocity frozen set 0 0 0\n")
    return (start(s, potential, create, resume, "p p f") + groups
            + f"region inlet block 0 {d.size[0]} 0 {d.size[1]} {height - 1.0} {height} units lattice\n"
            + f"fix add mobile deposit {d.atoms} 1 {d.interval} {s.seed} region inlet near 2.0 "
              f"vz -{speed:.6g} -{speed:.6g} units box\n"
            + "fix integrate mobile nve\n"
            # only the substrate is thermostatted: incoming atoms keep their speed until they land
            + f"fix bath substrate langevin {d.temperature} {d.temperature} {s.thermostat_damping} {s.seed}\n"
            + "compute_modify thermo_temp dynamic/dof yes\n"
            + f"dump traj all custom {d.dump_every} traj.lammpstrj id type x y z\ndump_modify traj sort id\n"
            + restart_lines(d.dump_every) + f"thermo {d.dump_every // 5 or 1}\n"
            + "thermo_style custom step time atoms temp pe\nthermo_modify lost ignore\n"
            + f"run {steps} upto\n")
