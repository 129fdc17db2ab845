"""Build bda_hpc and its compiled kernels (every csrc/*.pyx is one extension).

Include paths come from numpy, mpi4py and petsc4py, and from the PETSc and
MPI configurations found at build time (PETSC_DIR/PETSC_ARCH, `mpicc -show`),
so the same file builds against Debian's stack and a cluster's modules. A
kernel that needs extra C sources or libraries says so in its own
``# distutils:`` header lines.
"""
import os
import re
import shlex
import subprocess
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "bda_hpc" / "_version.py").read_text()).group(1)


def petsc_dirs():
    petsc_dir = os.environ.get("PETSC_DIR", "/usr/lib/petsc")
    arch = os.environ.get("PETSC_ARCH", "")
    inc = [os.path.join(petsc_dir, "include")]
    lib = [os.path.join(petsc_dir, "lib")]
    if arch:
        inc.insert(0, os.path.join(petsc_dir, arch, "include"))
        lib.insert(0, os.path.join(petsc_dir, arch, "lib"))
    return [d for d in inc if os.path.isdir(d)], [d for d in lib if os.path.isdir(d)]


def mpi_include_dirs():
    try:
        flags = subprocess.run(["mpicc", "-show"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [tok[2:] for tok in shlex.split(flags) if tok.startswith("-I")]


def extensions():
    sources = sorted((HERE / "csrc").glob("*.pyx"))
    if not sources:
        return []
    import numpy
    from Cython.Build import cythonize
    from setuptools import Extension

    include = [numpy.get_include(), str(HERE / "csrc")] + mpi_include_dirs()
    for mod in ("mpi4py", "petsc4py"):
        try:
            include.append(__import__(mod).get_include())
        except ImportError:
            pass
    petsc_inc, petsc_lib = petsc_dirs()
    exts = [
        Extension(
            f"bda_hpc._ext.{src.stem}",
            [str(src.relative_to(HERE))],
            include_dirs=include + petsc_inc,
            library_dirs=petsc_lib,
            runtime_library_dirs=petsc_lib,
            extra_compile_args=["-O3", "-fno-math-errno"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for src in sources
    ]
    return cythonize(exts, language_level=3, quiet=True)


setup(
    name="bda_hpc",
    version=VERSION,
    description="Battery design automation for clusters: atoms to cell, on MPI/PETSc/HDF5",
    packages=find_packages(include=["bda_hpc", "bda_hpc.*"]),
    package_data={"bda_hpc": ["*/data/*", "*/data/**/*"]},
    ext_modules=extensions(),
    entry_points={"console_scripts": ["bda-hpc = bda_hpc.cli:main"]},
    python_requires=">=3.10",
)
