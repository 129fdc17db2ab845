"""``bda-hpc info``: what this run sees: ranks, MPI, PETSc, HDF5, kernels."""
from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import numpy as np


def petsc_summary() -> dict:
    import petsc4py
    from petsc4py import PETSc

    conf = petsc4py.get_config()
    return {
        "version": "{}.{}.{}".format(*PETSc.Sys.getVersion()),
        "scalar_type": np.dtype(PETSc.ScalarType).name,
        "int_bytes": np.dtype(PETSc.IntType).itemsize,
        "petsc_dir": conf.get("PETSC_DIR"),
        "petsc_arch": conf.get("PETSC_ARCH") or "",
        "external_packages": petsc_external_packages(conf.get("PETSC_DIR", ""), conf.get("PETSC_ARCH") or ""),
    }


def petsc_external_packages(petsc_dir: str, petsc_arch: str) -> list[str]:
    """Solver packages PETSc was configured with, read from petscconf.h (PETSC_HAVE_<NAME>)."""
    for header in (Path(petsc_dir, petsc_arch, "include", "petscconf.h"), Path(petsc_dir, "include", "petscconf.h")):
        if header.exists():
            found = set()
            for line in header.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "#define" and parts[1].startswith("PETSC_HAVE_"):
                    name = parts[1][len("PETSC_HAVE_"):].lower()
                    if name in KNOWN_PACKAGES:
                        found.add(name)
            return sorted(found)
    return []


BLAS_NAMES = ("libblas", "liblapack", "libopenblas", "libmkl", "libflexiblas", "libblis")
# Debian's reference implementation: what libblas.so.3 resolves to unless an optimised BLAS is installed
REFERENCE_BLAS_DIR = "/blas/"


def blas_libraries(maps_text: str | None = None) -> list[str]:
    """The BLAS/LAPACK shared libraries this process has mapped outside Python packages, i.e. the ones PETSc,
    MUMPS and hypre call (numpy and torch bring their own). ``maps_text``: /proc/self/maps (Linux) by default."""
    if maps_text is None:
        try:
            maps_text = Path("/proc/self/maps").read_text()
        except OSError:
            return []
    found = set()
    for line in maps_text.splitlines():
        fields = line.split()
        path = fields[5] if len(fields) >= 6 else ""  # address, perms, offset, dev, inode, path
        if Path(path).name.startswith(BLAS_NAMES) and "-packages/" not in path:
            found.add(path)
    return sorted(found)


def blas_summary(paths: list[str]) -> str:
    blas = [p for p in paths if Path(p).name.startswith("libblas")] or paths
    if not blas:
        return "not found in this process"
    note = " (reference BLAS: slow dense kernels in MUMPS; install OpenBLAS)" if any(
        REFERENCE_BLAS_DIR in p for p in blas) else ""
    return ", ".join(blas) + note


KNOWN_PACKAGES = {"hypre", "mumps", "superlu", "superlu_dist", "suitesparse", "ml", "fftw", "hdf5", "p4est",
                  "metis", "parmetis", "scalapack", "ptscotch", "triangle", "tetgen", "ctetgen", "chaco"}


def compiled_kernels() -> dict:
    import bda_hpc._ext as ext

    status = {}
    for mod in pkgutil.iter_modules(ext.__path__):
        try:
            importlib.import_module(f"bda_hpc._ext.{mod.name}")
            status[mod.name] = "ok"
        except ImportError as exc:
            status[mod.name] = f"failed: {exc}"
    return status


def cpu_model() -> str:
    """The processor as /proc/cpuinfo and sysfs give it: name, family/model, L3 size.

    Virtual machines of one cloud 'kind' land on different hosts, and memory-bound figures (strong scaling on
    two cores) depend on which one, so the benchmarks record it."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model") and key not in fields:
                fields[key] = value.strip()
            if not line.strip() and fields:
                break  # the first processor's block is enough
    except OSError:
        return "unknown"
    try:
        l3 = Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip()
    except OSError:
        l3 = "?"
    return (f"{fields.get('model name', 'unknown')} (family {fields.get('cpu family', '?')} model "
            f"{fields.get('model', '?')}, L3 {l3})")


def collect(comm) -> dict:
    import h5py
    from mpi4py import MPI

    def version(name):
        try:
            return importlib.import_module(name).__version__
        except ImportError:
            return None

    return {
        "bda_hpc": version("bda_hpc"),
        "ranks": comm.size,
        "hosts": sorted(set(comm.allgather(MPI.Get_processor_name()))),
        "cpu": cpu_model(),
        "mpi_library": MPI.Get_library_version().strip().splitlines()[0],
        "mpi_standard": "{}.{}".format(*MPI.Get_version()),
        "mpi4py": version("mpi4py"),
        "petsc": petsc_summary(),
        "blas": blas_libraries(),  # after petsc_summary() has loaded PETSc and with it the BLAS it links
        "petsc4py": version("petsc4py"),
        "h5py": version("h5py"),
        "h5py_mpi": bool(h5py.get_config().mpi),
        "hdf5": h5py.version.hdf5_version,
        "numpy": version("numpy"),
        "numba": version("numba"),
        "torch": version("torch"),
        "ase": version("ase"),
        "compiled_kernels": compiled_kernels(),
    }


def run(args) -> int:
    from .parallel import world

    comm = world()
    data = collect(comm)
    if comm.rank == 0:
        if args.json:
            print(json.dumps(data, indent=2))
            return 0
        p = data["petsc"]
        lines = [
            f"bda_hpc {data['bda_hpc']}",
            f"ranks: {data['ranks']} on {', '.join(data['hosts'])}",
            f"MPI: {data['mpi_library']} (standard {data['mpi_standard']}, mpi4py {data['mpi4py']})",
            f"PETSc: {p['version']} (petsc4py {data['petsc4py']}), scalar {p['scalar_type']}, "
            f"{8 * p['int_bytes']}-bit indices, external: {', '.join(p['external_packages']) or 'none'}",
            f"BLAS under PETSc: {blas_summary(data['blas'])}",
            f"h5py: {data['h5py']} (HDF5 {data['hdf5']}), h5py mpi: {data['h5py_mpi']}",
            f"numpy {data['numpy']}, numba {data['numba']}, torch {data['torch']}, ase {data['ase']}",
            "compiled kernels: " + (", ".join(f"{k} {v}" for k, v in data["compiled_kernels"].items()) or "none"),
        ]
        print("\n".join(lines))
    return 0


def register(sub, common) -> None:
    p = sub.add_parser("info", parents=[common], help="report ranks, MPI, PETSc, HDF5 and library versions")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=run)
