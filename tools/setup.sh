#!/usr/bin/env bash
# Idempotent environment set-up for bda_hpc (called by `make setup`).
#
# 1. System stack: Open MPI, PETSc, parallel HDF5 (and SLURM/munge for the
#    workflow tests) from apt when apt is available and no module-loaded stack
#    is given (PETSC_DIR / HDF5_DIR / mpicc already set skip apt).
# 2. .venv with mpi4py, petsc4py matching the PETSc found, h5py built against
#    parallel HDF5, numba, cython, ase, torch (CPU) and bda_hpc (editable).
# A stamp records what was installed; a second run only rebuilds changed
# extensions. Every failure stops with one line naming the piece and why.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${BDA_HPC_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
TORCH_VERSION=${BDA_HPC_TORCH_VERSION:-2.13.0}

fail() { echo "setup: cannot install $1: $2" >&2; exit 1; }
log() { echo "setup: $*"; }

# ---------------------------------------------------------------- system stack
# libopenblas0-serial: Debian's PETSc, MUMPS and hypre link the generic libblas/liblapack, which resolve to the
# reference implementation unless an optimised one is installed; OpenBLAS (the serial build: one thread per MPI
# rank) made MUMPS's factorisation of the 400² PFHub grid 5.2x faster (23.6 -> 4.5 s for 3).
APT_PACKAGES="petsc-dev libopenmpi-dev openmpi-bin libhdf5-openmpi-dev libopenblas0-serial slurm-wlm munge python3-venv python3-dev pkg-config"
if [ -z "${PETSC_DIR:-}" ] && command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  missing=""
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    log "installing system packages:$missing"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null || fail "system packages" "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/tmp/bda_hpc_apt.log 2>&1 \
      || fail "system packages ($missing)" "apt-get install failed, see /tmp/bda_hpc_apt.log"
  fi
fi

export PETSC_DIR=${PETSC_DIR:-/usr/lib/petsc}
PETSC_INC=$PETSC_DIR/${PETSC_ARCH:+$PETSC_ARCH/}include
[ -f "$PETSC_INC/petscconf.h" ] || PETSC_INC=$PETSC_DIR/include
[ -f "$PETSC_DIR/include/petscversion.h" ] || fail "petsc4py" "no PETSc at PETSC_DIR=$PETSC_DIR (set PETSC_DIR/PETSC_ARCH or install petsc-dev)"
petsc_version=$(awk '/define PETSC_VERSION_(MAJOR|MINOR|SUBMINOR) /{v=v (v?".":"") $3} END{print v}' "$PETSC_DIR/include/petscversion.h")
command -v mpicc >/dev/null || fail "mpi4py" "no mpicc on PATH (install libopenmpi-dev or load an MPI module)"
if [ -z "${HDF5_DIR:-}" ]; then
  for d in /usr/lib/x86_64-linux-gnu/hdf5/openmpi /usr/lib/aarch64-linux-gnu/hdf5/openmpi; do
    [ -d "$d" ] && HDF5_DIR=$d && break
  done
fi
[ -n "${HDF5_DIR:-}" ] || fail "h5py" "no parallel HDF5 found (set HDF5_DIR or install libhdf5-openmpi-dev)"

# ---------------------------------------------------------------- python env
STAMP=$VENV/.bda_hpc_setup
want="petsc=$petsc_version hdf5=$HDF5_DIR torch=$TORCH_VERSION reqs=$(cat tools/requirements.txt setup.py pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  # Only the compiled extensions may be stale; build_ext skips up-to-date ones.
  "$VENV/bin/python" setup.py -q build_ext --inplace >/tmp/bda_hpc_build.log 2>&1 \
    || { cat /tmp/bda_hpc_build.log >&2; fail "bda_hpc extensions" "compile failed (log above)"; }
  exit 0
fi

[ -x "$VENV/bin/python" ] || { log "creating $VENV"; $PY -m venv "$VENV" || fail "venv" "'$PY -m venv' failed (install python3-venv)"; }
# pip warns about every absent local mirror folder on this kind of machine: keep only real messages.
PIP=pip_install
pip_install() {
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}
has() { "$VENV/bin/python" -c "$1" >/dev/null 2>&1; }

$PIP --upgrade pip wheel >/dev/null || fail "pip" "upgrade failed"
# torch first: anything depending on it must not pull a CUDA build.
has "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" \
  || { log "torch $TORCH_VERSION (CPU)"; $PIP "torch==$TORCH_VERSION" || fail "torch" "pip install torch==$TORCH_VERSION failed"; }
has "import numpy" || $PIP "numpy<2.4" || fail "numpy" "pip failed"
# mpi4py from a binary wheel only: building it from source needs ~20 GiB.
has "import mpi4py.MPI" || { log "mpi4py"; $PIP --only-binary=mpi4py mpi4py || fail "mpi4py" "no binary wheel installable"; }
has "import petsc4py, sys; sys.exit(petsc4py.__version__ != '$petsc_version')" || {
  log "petsc4py $petsc_version against $PETSC_DIR (2-7 min)"
  # petsc4py before 3.20 (Debian 12: 3.18) builds only with Cython 0.29 and the distutils of older setuptools;
  # from 3.20 on it needs Cython 3; up to 3.23 (Debian 13: 3.22) its doc-string hook crashes Cython 3.1 and its
  # build calls distutils execute(dry_run=...), gone from setuptools 80
  petsc_minor=$(echo "$petsc_version" | cut -d. -f2)
  if [ "$petsc_minor" -lt 20 ]; then petsc4py_build=("cython<3" "setuptools<69")
  elif [ "$petsc_minor" -le 23 ]; then petsc4py_build=("cython>=3,<3.1" "setuptools>=77,<80")
  else petsc4py_build=("cython>=3" "setuptools>=77"); fi
  # these pins may break torch's setuptools>=77 for the length of the build; "python packages" below restores it
  $PIP --no-warn-conflicts "${petsc4py_build[@]}" wheel || fail "petsc4py" "build requirements"
  PETSC_DIR=$PETSC_DIR $PIP --no-build-isolation "petsc4py==$petsc_version" >/tmp/bda_hpc_petsc4py.log 2>&1 \
    || fail "petsc4py==$petsc_version" "build failed, see /tmp/bda_hpc_petsc4py.log"
}
has "import h5py, sys; sys.exit(not h5py.get_config().mpi)" || {
  log "h5py with MPI against $HDF5_DIR (~2 min)"
  $PIP "cython>=3" "setuptools>=77" pkgconfig || fail "h5py" "build requirements"
  HDF5_MPI=ON CC=mpicc HDF5_DIR=$HDF5_DIR $PIP --no-build-isolation --no-binary=h5py --force-reinstall --no-deps h5py \
    >/tmp/bda_hpc_h5py.log 2>&1 || fail "h5py (MPI)" "build failed, see /tmp/bda_hpc_h5py.log"
}
log "python packages"
$PIP "cython>=3" "setuptools>=77" -r tools/requirements.txt || fail "python packages" "pip install -r tools/requirements.txt failed"
log "bda_hpc (editable, compiling extensions)"
$PIP --no-build-isolation --no-deps -e . >/tmp/bda_hpc_build.log 2>&1 \
  || { tail -30 /tmp/bda_hpc_build.log >&2; fail "bda_hpc" "editable install failed (log above)"; }
"$VENV/bin/python" setup.py -q build_ext --inplace >>/tmp/bda_hpc_build.log 2>&1 || fail "bda_hpc extensions" "compile failed"
echo "$want" > "$STAMP"
log "done ($VENV)"
