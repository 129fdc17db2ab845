"""The built plugin and the LAMMPS it belongs to (read from the sidecar JSON that ``build`` writes).

Everything that runs LAMMPS goes through :class:`LammpsEnv`: it refuses a missing plugin, a
plugin built for another LAMMPS version, and a missing ``lmp`` with one clear InputError each.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from .build import DEFAULT_OUT, PLUGIN_NAME, child_env, lammps_version


@dataclass(frozen=True)
class LammpsEnv:
    plugin: Path
    lmp: str
    mpiexec: str
    libdir: str | None
    lammps_version: int

    @classmethod
    def load(cls, plugin: str | Path | None = None, check_version: bool = True) -> LammpsEnv:
        plugin = Path(plugin) if plugin else DEFAULT_OUT / PLUGIN_NAME
        meta_path = plugin.with_suffix(".json")
        if not plugin.is_file():
            raise InputError(f"LAMMPS plugin file {plugin} does not exist; build it with `make lammps-plugin`")
        if not meta_path.is_file():
            raise InputError(f"{meta_path} (written with the plugin by `make lammps-plugin`) is missing; rebuild")
        meta = json.loads(meta_path.read_text())
        env = cls(plugin.resolve(), meta["lmp"], meta["mpiexec"], meta.get("libdir"), int(meta["lammps_version"]))
        if not Path(env.lmp).exists():
            raise InputError(f"{meta_path}: LAMMPS executable {env.lmp} no longer exists; rebuild the plugin")
        if check_version:
            env.check_version()
        return env

    def environ(self) -> dict:
        return child_env(self.libdir)

    def check_version(self) -> None:
        host = lammps_version(Path(self.lmp), self.environ())
        if host != self.lammps_version:
            raise InputError(
                f"plugin {self.plugin} was built for LAMMPS {self.lammps_version}, but {self.lmp} "
                f"is LAMMPS {host}; rebuild with `make lammps-plugin`"
            )

    def command(self, nprocs: int, input_file: str | Path, log_file: str | Path) -> list[str]:
        """LAUNCHER lmp -in INPUT -log LOG. The launcher is mpiexec of the MPI this LAMMPS is built with,
        or $BDA_LAMMPS_LAUNCHER (e.g. "srun" in a SLURM job; "{n}" in it becomes the rank count)."""
        custom = os.environ.get("BDA_LAMMPS_LAUNCHER")
        if custom:
            launcher = shlex.split(custom.replace("{n}", str(nprocs)))
        else:
            launcher = [self.mpiexec, "-n", str(nprocs)] if nprocs > 1 or self.libdir is None else []
        return [*launcher, self.lmp, "-in", str(input_file), "-log", str(log_file), "-nocite"]
