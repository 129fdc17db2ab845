#!/usr/bin/env bash
# Run `make setup` and `make test` (or another make target) from a clean clone inside a Debian 13 (trixie)
# chroot on this machine, to check the newer stack (PETSc 3.22, Open MPI 5, HDF5 1.14, Slurm 24.11) without a
# Debian 13 machine. By hand, as root, ~25 min the first time (debootstrap, apt, petsc4py and h5py builds).
#   tools/debian13_check.sh [make target ...]          default: test
# Environment: ROOTFS (default /srv/trixie), MIRROR, PYTHON_PREFIX (a Python install to bind into the chroot,
# default: the prefix of python3 here, so the chroot runs the same Python as CI; Debian 13's own is 3.13).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOTFS=${ROOTFS:-/srv/trixie}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PYTHON_PREFIX=${PYTHON_PREFIX:-$(python3 -c 'import sys; print(sys.base_prefix)')}
TARGETS=${*:-test}
[ "$(id -u)" -eq 0 ] || { echo "debian13_check: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }

if [ ! -x "$ROOTFS/usr/bin/apt-get" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
  debootstrap --variant=minbase --include=ca-certificates,build-essential,git,make,rsync trixie "$ROOTFS" "$MIRROR"
fi
# what a real machine has and a bare chroot lacks: name resolution, this host's CA bundle (proxies), sysfs with
# its cgroup mounts (slurmd needs them), /proc, /dev
cp /etc/resolv.conf /etc/hosts /etc/hostname "$ROOTFS/etc/"
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
bind() { mkdir -p "$ROOTFS$2"; mountpoint -q "$ROOTFS$2" || mount "$1" "$2" "$ROOTFS$2"; }   # bind OPTION PATH
bind --bind /proc; bind --rbind /sys; bind --bind /dev; bind --bind /dev/pts
# this machine's Python and pip set-up (local wheel folders, constraints), at the same paths
for p in "$PYTHON_PREFIX" /opt/wheels /opt/pypi /opt/pypi-more /etc/xdg/pip; do [ -e "$p" ] && bind --bind "$p"; done
for f in /etc/pip.conf /root/.config/pip/pip.conf; do [ -f "$f" ] && mkdir -p "$ROOTFS$(dirname "$f")" && cp "$f" "$ROOTFS$f"; done
# the data the demo and some tests read, where a clone at /root/bda looks for it
if [ -d "$REPO/../shared" ]; then mkdir -p "$ROOTFS/root/shared"; mountpoint -q "$ROOTFS/root/shared" || mount --bind "$REPO/../shared" "$ROOTFS/root/shared"; fi

rm -rf "$ROOTFS/root/bda" && git clone -q "$REPO" "$ROOTFS/root/bda"
env_vars=$(env | grep -E '^PIP_' | sed 's/^/export /' || true)
chroot "$ROOTFS" bash -c "export HOME=/root LANG=C.UTF-8 PATH=$PYTHON_PREFIX/bin:/usr/sbin:/usr/bin:/sbin:/bin; $env_vars
  grep -E 'define PETSC_VERSION_(MAJOR|MINOR|SUBMINOR) ' /usr/lib/petsc/include/petscversion.h 2>/dev/null || true
  cd /root/bda && make $TARGETS"
