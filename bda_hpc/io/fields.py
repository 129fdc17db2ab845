"""Distributed structured-grid fields in parallel HDF5, with XDMF sidecars and checkpoints.

Arrays are in C order with the slowest axis first (``(ny, nx)`` in 2D,
``(nz, ny, nx)`` in 3D, as a DMDA stores them). Each rank owns the box
``starts .. starts + local_shape`` and writes it as its own hyperslab with
h5py's ``mpio`` driver; any other rank count can read the file back.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .hdf5 import open_existing

CHECKPOINT_SCHEMA = "bda_hpc.checkpoint/1"


@dataclass(frozen=True)
class Block:
    """This rank's box of a global structured grid (all tuples in array axis order)."""

    global_shape: tuple[int, ...]
    starts: tuple[int, ...]
    local_shape: tuple[int, ...]
    spacing: tuple[float, ...] | None = None
    origin: tuple[float, ...] | None = None

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(s, s + n) for s, n in zip(self.starts, self.local_shape))

    @classmethod
    def whole(cls, shape: Sequence[int], spacing=None, origin=None) -> Block:
        return cls(tuple(shape), (0,) * len(shape), tuple(shape), spacing, origin)


def _open(path: Path, mode: str, comm):
    import h5py

    if comm is not None and comm.size > 1:
        if not h5py.get_config().mpi:
            raise InputError(
                "h5py was built without MPI, so fields cannot be written in parallel; "
                "run `make setup` (it builds h5py against parallel HDF5)", collective=True)
        return h5py.File(path, mode, driver="mpio", comm=comm)
    return h5py.File(path, mode)


def _tmp_name(path: Path, comm) -> Path:
    pid = os.getpid() if comm is None else comm.bcast(os.getpid(), root=0)
    return path.with_name(f".{path.name}.tmp{pid}")


def write_fields(
    path: str | os.PathLike,
    fields: Mapping[str, np.ndarray],
    block: Block,
    comm=None,
    *,
    attrs: Mapping | None = None,
    xdmf: bool = True,
) -> Path:
    """Collectively write this rank's part of each field; atomic rename, then an XDMF sidecar."""
    path = Path(path)
    for name, local in fields.items():
        if tuple(local.shape) != tuple(block.local_shape):
            raise InputError(f"field {name!r}: local shape {local.shape} does not match the block {block.local_shape}")
    if comm is not None and comm.size > 1:
        # HDF5 metadata, attributes included, must be the same on every rank: a value whose length differs
        # (a rank-local wall time, say) makes the ranks allocate file space differently, and the write
        # hangs. Rank 0's values are the ones written.
        attrs = comm.bcast(attrs, root=0)
    if comm is None or comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path, comm)
    if comm is not None:
        comm.Barrier()
    with _open(tmp, "w", comm) as f:
        for name, local in fields.items():
            ds = f.create_dataset(name, shape=block.global_shape, dtype=np.asarray(local).dtype)
            with ds.collective if (comm is not None and comm.size > 1) else nullcontext():
                ds[block.slices] = local
        if block.spacing is not None:
            f.attrs["spacing"] = np.asarray(block.spacing, dtype=float)
        if block.origin is not None:
            f.attrs["origin"] = np.asarray(block.origin, dtype=float)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    if comm is not None:
        comm.Barrier()
    if comm is None or comm.rank == 0:
        os.replace(tmp, path)
        if xdmf:
            time = (attrs or {}).get("time")
            path.with_suffix(".xmf").write_text(xdmf_document([xdmf_grid(path.name, list(fields), block, time)]))
    if comm is not None:
        comm.Barrier()
    return path


def read_fields(path: str | os.PathLike, names: Sequence[str], block: Block, comm=None) -> dict[str, np.ndarray]:
    """Read this rank's box of each named field (the file may come from any rank count)."""
    path = Path(path)
    with open_existing(path, "field file", opener=lambda p: _open(p, "r", comm), collective=True) as f:
        out = {}
        for name in names:
            if name not in f:
                raise InputError(f"{path}: no field {name!r} (has: {', '.join(f.keys())})", collective=True)
            ds = f[name]
            if tuple(ds.shape) != tuple(block.global_shape):
                raise InputError(
                    f"{path}: field {name!r} has grid {tuple(ds.shape)}, this run uses {tuple(block.global_shape)}",
                    collective=True)
            out[name] = ds[block.slices]
        return out


def read_attrs(path: str | os.PathLike) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        return dict(f.attrs)


# ----------------------------------------------------------------- checkpoints

def write_checkpoint(path, fields: Mapping[str, np.ndarray], block: Block, comm, state: Mapping) -> Path:
    """Fields plus a JSON ``state`` (time, step, dt, RNG state, config, model, ...) in one atomic file."""
    attrs = {"schema": CHECKPOINT_SCHEMA, "state": json.dumps(state), "time": float(state.get("time", 0.0))}
    return write_fields(path, fields, block, comm, attrs=attrs, xdmf=False)


def read_checkpoint(path, names: Sequence[str], block: Block, comm, expect: Mapping | None = None):
    """Fields and state of a checkpoint; ``expect`` entries (model, grid, ...) must match the state."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"checkpoint {path} does not exist", collective=True)
    try:
        attrs = read_attrs(path) if comm is None or comm.rank == 0 else None
    except OSError as exc:
        attrs = InputError(f"{path}: not a readable checkpoint ({exc})", collective=True)
    if comm is not None:
        attrs = comm.bcast(attrs, root=0)
    if isinstance(attrs, Exception):
        raise attrs
    if attrs.get("schema") != CHECKPOINT_SCHEMA:
        raise InputError(f"{path}: not a bda_hpc checkpoint (schema {attrs.get('schema')!r})", collective=True)
    state = json.loads(attrs["state"])
    for key, want in (expect or {}).items():
        have = state.get(key)
        if json.dumps(have) != json.dumps(want):
            raise InputError(f"{path}: checkpoint has {key} = {have!r}, this run has {want!r}", collective=True)
    return read_fields(path, names, block, comm), state


# ----------------------------------------------------------------------- XDMF

def xdmf_grid(h5_name: str, names: Sequence[str], block: Block, time: float | None = None) -> str:
    """One uniform ``<Grid>`` on a co-rectilinear mesh, attributes at the nodes."""
    dim = len(block.global_shape)
    if dim not in (2, 3):
        raise InputError(f"XDMF supports 2D and 3D grids, not {dim}D")
    dims = " ".join(map(str, block.global_shape))
    spacing = block.spacing or (1.0,) * dim
    origin = block.origin or (0.0,) * dim
    topo = "2DCoRectMesh" if dim == 2 else "3DCoRectMesh"
    geom = "ORIGIN_DXDY" if dim == 2 else "ORIGIN_DXDYDZ"
    lines = [f'<Grid Name="{h5_name}" GridType="Uniform">']
    if time is not None:
        lines.append(f'  <Time Value="{float(time)!r}"/>')
    lines += [
        f'  <Topology TopologyType="{topo}" Dimensions="{dims}"/>',
        f'  <Geometry GeometryType="{geom}">',
        f'    <DataItem Format="XML" Dimensions="{dim}">{" ".join(map(repr, map(float, origin)))}</DataItem>',
        f'    <DataItem Format="XML" Dimensions="{dim}">{" ".join(map(repr, map(float, spacing)))}</DataItem>',
        "  </Geometry>",
    ]
    for name in names:
        lines += [
            f'  <Attribute Name="{name}" AttributeType="Scalar" Center="Node">',
            f'    <DataItem Format="HDF" NumberType="Float" Precision="8" Dimensions="{dims}">'
            f"{h5_name}:/{name}</DataItem>",
            "  </Attribute>",
        ]
    lines.append("</Grid>")
    return "\n".join(lines)


def xdmf_document(grids: Sequence[str], series: bool = False) -> str:
    body = "\n".join(grids)
    if series:
        body = f'<Grid Name="series" GridType="Collection" CollectionType="Temporal">\n{body}\n</Grid>'
    return (
        '<?xml version="1.0" ?>\n<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>\n<Xdmf Version="3.0">\n<Domain>\n'
        f"{body}\n</Domain>\n</Xdmf>\n"
    )


def write_xdmf_series(path: str | os.PathLike, entries: Sequence[tuple[float, str]], names: Sequence[str],
                      block: Block) -> Path:
    """A temporal collection over field files ``(time, file name relative to path)``, for ParaView."""
    path = Path(path)
    grids = [xdmf_grid(name, names, block, time) for time, name in entries]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(xdmf_document(grids, series=True))
    os.replace(tmp, path)
    return path
