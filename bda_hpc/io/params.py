"""The HDF5 parameter-file contract between scales (DESIGN.md, "HDF5 parameter files").

::

    /meta                 attrs: schema, stage, created, code_version, git_commit, config, inputs (JSON)
    /parameters/<name>    scalar or array; attrs: units, description, method, [uncertainty]
    /results/...          anything else the stage produced (datasets may carry a units attr)

Files are written to a temporary name and renamed, so a killed job never
leaves a half file that looks complete. Readers read on rank 0 and broadcast,
and ask for what they need with :meth:`ParameterSet.require`, which converts
units and fails with one message naming the file, the parameter and the units.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import ParameterFileError
from .hdf5 import open_existing
from .units import check_units, convert

SCHEMA_NAME = "bda_hpc.params"
SCHEMA_VERSION = 1
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"


@dataclass
class Parameter:
    """One named value with its units and how it was obtained."""

    value: Any
    units: str
    description: str = ""
    method: str = ""
    uncertainty: float | None = None


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the bda_hpc source tree, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _write_tree(group, tree: Mapping[str, Any], where: str) -> None:
    """Write nested mappings as groups; ``(array, units)`` tuples get a units attribute."""
    for key, value in tree.items():
        if isinstance(value, Mapping):
            _write_tree(group.create_group(key), value, f"{where}/{key}")
            continue
        units = None
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
            value, units = value
        if isinstance(value, str):
            ds = group.create_dataset(key, data=value)
        else:
            ds = group.create_dataset(key, data=np.asarray(value))
        if units is not None:
            ds.attrs["units"] = check_units(units, f"{where}/{key}")


def write_params(
    path: str | os.PathLike,
    stage: str,
    parameters: Mapping[str, Parameter],
    *,
    results: Mapping[str, Any] | None = None,
    config: str = "",
    inputs: Iterable[str | os.PathLike] = (),
    comm=None,
) -> Path:
    """Write a parameter file atomically (on rank 0 of ``comm``; all ranks return the path).

    A failure on rank 0 is raised on every rank, so callers need no extra check.
    """
    path = Path(path)
    error = None
    if comm is None or comm.rank == 0:
        try:
            _write_params_serial(path, stage, parameters, results or {}, config, inputs)
        except Exception as exc:  # re-raised collectively below
            error = exc if isinstance(exc, ParameterFileError) else ParameterFileError(f"{path}: {exc}")
    if comm is not None:
        error = comm.bcast(error, root=0)
    if error is not None:
        error.collective = True
        raise error
    return path


def _write_params_serial(path, stage, parameters, results, config, inputs) -> None:
    import h5py

    for name, p in parameters.items():
        if not isinstance(p, Parameter):
            raise ParameterFileError(f"parameter {name!r}: expected a Parameter, got {type(p).__name__}")
        check_units(p.units, f"parameter {name!r}")
        if not np.all(np.isfinite(np.asarray(p.value, dtype=float))):
            raise ParameterFileError(f"parameter {name!r} is not finite ({p.value!r}); refusing to write {path}")
    input_records = [{"path": str(Path(i).resolve()), "sha256": file_sha256(i)} for i in inputs]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            meta = f.create_group("meta")
            meta.attrs.update({
                "schema": SCHEMA,
                "stage": stage,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "code_version": __version__,
                "git_commit": git_commit(),
                "config": config,
                "inputs": json.dumps(input_records),
            })
            group = f.create_group("parameters")
            for name, p in parameters.items():
                ds = group.create_dataset(name, data=np.asarray(p.value))
                ds.attrs.update({"units": p.units, "description": p.description, "method": p.method})
                if p.uncertainty is not None:
                    ds.attrs["uncertainty"] = float(p.uncertainty)
            _write_tree(f.create_group("results"), results, "results")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ParameterSet:
    """The parameters and metadata of one file, as read (and broadcast) by :func:`read_params`."""

    def __init__(self, path: Path, meta: dict, parameters: dict[str, Parameter]):
        self.path = path
        self.meta = meta
        self.parameters = parameters

    def __contains__(self, name: str) -> bool:
        return name in self.parameters

    def names(self) -> list[str]:
        return sorted(self.parameters)

    def require(self, name: str, units: str | None = None):
        """The value of ``name`` converted to ``units``; a clear error when absent or incompatible."""
        if name not in self.parameters:
            have = ", ".join(self.names()) or "none"
            raise ParameterFileError(
                f"{self.path}: no parameter {name!r}"
                + (f" (expected in {units})" if units else "")
                + f"; the file (stage {self.meta.get('stage', '?')!r}) has: {have}",
                collective=True,
            )
        p = self.parameters[name]
        if units is None:
            return p.value
        try:
            return convert(p.value, p.units, units, f"{self.path}: parameter {name!r}")
        except ParameterFileError as exc:
            exc.collective = True
            raise

    def get(self, name: str, units: str | None = None, default=None):
        return self.require(name, units) if name in self.parameters else default


def _parse_schema(schema: str, path: Path) -> int:
    name, _, version = schema.partition("/")
    if name != SCHEMA_NAME or not version.isdigit():
        raise ParameterFileError(f"{path}: unknown schema {schema!r} (expected {SCHEMA})")
    return int(version)


def _read_serial(path: Path) -> ParameterSet:
    with open_existing(path, "parameter file", ParameterFileError) as f:
        if "meta" not in f or "schema" not in f["meta"].attrs:
            raise ParameterFileError(f"{path}: not a bda_hpc parameter file (no /meta schema attribute)")
        meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["meta"].attrs.items()}
        version = _parse_schema(str(meta["schema"]), path)
        if version > SCHEMA_VERSION:
            raise ParameterFileError(
                f"{path}: written with schema {meta['schema']}, newer than this bda_hpc {__version__} "
                f"reads ({SCHEMA}); upgrade bda_hpc"
            )
        meta["inputs"] = json.loads(meta.get("inputs", "[]"))
        parameters = {}
        for name, ds in f.get("parameters", {}).items():
            if "units" not in ds.attrs:
                raise ParameterFileError(f"{path}: parameter {name!r} has no units attribute")
            value = ds[()]
            value = value.item() if np.ndim(value) == 0 else np.asarray(value)
            unc = ds.attrs.get("uncertainty")
            parameters[name] = Parameter(
                value=value,
                units=str(ds.attrs["units"]),
                description=str(ds.attrs.get("description", "")),
                method=str(ds.attrs.get("method", "")),
                uncertainty=None if unc is None else float(unc),
            )
    return ParameterSet(path, meta, parameters)


def read_params(path: str | os.PathLike, comm=None) -> ParameterSet:
    """Read a parameter file on rank 0 and broadcast it; errors are raised on every rank."""
    path = Path(path)
    result: ParameterSet | ParameterFileError
    if comm is None or comm.rank == 0:
        try:
            result = _read_serial(path)
        except ParameterFileError as exc:
            result = exc
    if comm is not None:
        result = comm.bcast(result if comm.rank == 0 else None, root=0)
    if isinstance(result, ParameterFileError):
        result.collective = True
        raise result
    return result


def select_by_stage(paths: Iterable[str | os.PathLike], stage: str, comm=None) -> ParameterSet | None:
    """The one file among ``paths`` written by ``stage`` (None if none; an error if several)."""
    found = [ps for ps in (read_params(p, comm) for p in paths) if ps.meta.get("stage") == stage]
    if len(found) > 1:
        raise ParameterFileError(
            f"several parameter files from stage {stage!r}: {', '.join(str(p.path) for p in found)}",
            collective=True)
    return found[0] if found else None


def read_results(path: str | os.PathLike, name: str) -> np.ndarray:
    """One dataset under /results (serial read; for reports and tests)."""
    import h5py

    with h5py.File(path, "r") as f:
        key = f"results/{name}"
        if key not in f:
            raise ParameterFileError(f"{path}: no result {name!r}")
        return f[key][()]
