"""The microstructure stage: structure -> tortuosity, effective conductivity, Bruggeman exponent -> electrode.h5.

Every rank holds the voxel image (rank 0 reads it and broadcasts; synthetic
structures are generated identically on every rank from the seed); the
solves are distributed (``bda_hpc.fem``). Each finished solve is recorded in
``microstructure_progress.json`` in the output directory, so a re-run with
the same configuration and image skips what is done.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from ..config import config_text, load_section
from ..errors import InputError
from ..fem.transport import AXIS_NAMES, TransportResult, tortuosity
from ..io.fields import Block, write_fields
from ..io.params import Parameter, write_params
from ..parallel import split_evenly
from . import ACTIVE
from .generate import ParticleSpec, generate
from .images import phase_label, read_image
from .metrics import connectivity, specific_surface_area, volume_fraction

LOG = logging.getLogger("bda_hpc.microstructure")


@dataclass
class MicrostructureConfig:
    """The ``[microstructure]`` table (``[microstructure.synthetic]``, ``[microstructure.petsc]``)."""

    synthetic: ParticleSpec = field(default_factory=ParticleSpec)
    image: str | None = None           # a segmented image instead of the synthetic structure
    image_dataset: str | None = None   # HDF5 dataset / .npz member of the image
    voxel_size: float | None = None    # voxel size of the image (m); synthetic.voxel_size otherwise
    phase: str = "pore"                # transport phase: pore, active, cbd or an integer label
    scheme: Literal["fv", "q1"] = "fv"
    # Extra synthetic structures (the [synthetic] recipe at these porosities) for the Bruggeman fit,
    # beside the main structure; with an image, [] fits the image's own point alone.
    bruggeman_porosities: list[float] = field(default_factory=lambda: [0.3, 0.45, 0.6])
    petsc: dict = field(default_factory=dict)

    def validate(self) -> list[str]:
        problems = []
        if self.image is not None and not (self.voxel_size or 0) > 0:
            problems.append("voxel_size: give the image's voxel size in metres (positive)")
        bad = [p for p in self.bruggeman_porosities if not 0 < p < 1 - self.synthetic.cbd_fraction]
        if bad:
            problems.append(f"bruggeman_porosities: values must lie in (0, 1 - cbd_fraction), got {bad}")
        return problems


# ------------------------------------------------------------------ structure

def load_structure(comm, cfg: MicrostructureConfig) -> tuple[np.ndarray, float, str]:
    """(labels, voxel size in m, description) on every rank."""
    if cfg.image is None:
        spec = cfg.synthetic
        return generate(spec), spec.voxel_size, f"synthetic {spec.particle_shape}s, seed {spec.seed}"
    return broadcast_image(comm, cfg.image, cfg.image_dataset), float(cfg.voxel_size), f"image {cfg.image}"


def broadcast_image(comm, path, dataset=None) -> np.ndarray:
    """Rank 0 reads the image and broadcasts it (or the error, so that every rank raises it)."""
    image: object = None
    if comm.rank == 0:
        try:
            image = read_image(path, dataset)
        except InputError as exc:
            image = exc
    image = comm.bcast(image, root=0)
    if isinstance(image, Exception):
        raise image
    return image


# ------------------------------------------------------------------- progress

class Progress:
    """Finished solves of this configuration, kept in a JSON file (written by rank 0, atomically)."""

    def __init__(self, comm, path: Path, fingerprint: str):
        self.comm, self.path, self.fingerprint = comm, path, fingerprint
        done = None
        if comm.rank == 0 and path.exists():
            try:
                saved = json.loads(path.read_text())
                done = saved["results"] if saved.get("fingerprint") == fingerprint else None
            except (OSError, ValueError, KeyError):
                done = None
            LOG.info("resuming: %d solves already done", len(done)) if done else \
                LOG.info("progress file %s is from another configuration; starting afresh", path)
        self.done: dict = comm.bcast(done or {}, root=0)

    def record(self, key: str, value: dict) -> None:
        self.done[key] = value
        if self.comm.rank == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "results": self.done}, indent=1))
            os.replace(tmp, self.path)


def directional(comm, mask: np.ndarray, voxel_size: float, cfg: MicrostructureConfig, progress: Progress,
                name: str, keep_x: bool = False) -> tuple[list[dict], TransportResult | None]:
    """Tortuosity along x, y, z of ``mask``; ``keep_x`` also returns the x solve with its potential."""
    rows, kept = [], None
    for axis in range(3):
        key = f"{name}:{AXIS_NAMES[axis]}"
        if key in progress.done and not (keep_x and axis == 0):
            rows.append(progress.done[key])
            continue
        t = tortuosity(comm, mask, axis, (voxel_size,) * 3, cfg.petsc, cfg.scheme, keep_solution=keep_x and axis == 0)
        row = {"axis": axis, "porosity": t.porosity, "tortuosity": t.tortuosity, "ratio": t.conductivity_ratio,
               "iterations": t.result.iterations, "solve_s": t.result.solve_s,
               "conservation_error": t.result.conservation_error, "percolates": t.result.percolates}
        if not t.result.percolates:
            LOG.warning("%s: no percolating path along %s: tortuosity is infinite", name, AXIS_NAMES[axis])
        LOG.info("%s %s: porosity %.4f, tortuosity %.4f, %d iterations", name, AXIS_NAMES[axis],
                 t.porosity, t.tortuosity, t.result.iterations)
        progress.record(key, row)
        rows.append(row)
        if keep_x and axis == 0:
            kept = t.result
    return rows, kept


def fit_bruggeman(porosity, ratio) -> tuple[float, float | None]:
    """b and its standard error from ln(ratio) = b ln(porosity) (least squares through the origin)."""
    x, y = np.log(np.asarray(porosity)), np.log(np.asarray(ratio))
    b = float(np.sum(x * y) / np.sum(x * x))
    if x.size < 2:
        return b, None
    resid = y - b * x
    return b, float(np.sqrt(np.sum(resid**2) / (x.size - 1) / np.sum(x * x)))


# ---------------------------------------------------------------------- stage

def run_stage(comm, config_path, out_dir) -> Path:
    """Run the stage; returns the path of electrode.h5."""
    from .plots import bruggeman_png, slices_png

    cfg = load_section(config_path, "microstructure", MicrostructureConfig)
    out = Path(out_dir)
    labels, voxel_size, source = load_structure(comm, cfg)
    label = phase_label(labels, cfg.phase, source)
    mask = labels == label
    fingerprint = hashlib.sha256(config_text(config_path).encode() + labels.tobytes()).hexdigest()[:16]
    progress = Progress(comm, out / "microstructure_progress.json", fingerprint)

    rows, x_solve = directional(comm, mask, voxel_size, cfg, progress, "structure", keep_x=True)
    series = [(float(np.mean([r["porosity"] for r in rows])), float(np.mean([r["ratio"] for r in rows])))]
    for eps in cfg.bruggeman_porosities:
        spec = replace(cfg.synthetic, porosity=eps)
        extra = generate(spec) == label
        extra_rows, _ = directional(comm, extra, spec.voxel_size, cfg, progress, f"series_{eps:g}")
        series.append((float(extra_rows[0]["porosity"]), float(np.mean([r["ratio"] for r in extra_rows]))))
    usable = [(e, r) for e, r in series if r > 0]
    if not usable:
        raise InputError(f"phase {cfg.phase!r} percolates in no structure; no Bruggeman exponent", collective=True)
    b, b_err = fit_bruggeman(*zip(*usable))
    surface_label = ACTIVE if ACTIVE in np.unique(labels) and label != ACTIVE else label
    ssa = specific_surface_area(labels, surface_label, voxel_size)
    conn = connectivity(labels, label, 26 if cfg.scheme == "q1" else 6)

    write_structure_fields(comm, out / "electrode_fields.h5", labels, voxel_size)
    if x_solve is not None:
        write_fields(out / "potential_x.h5", {"potential": x_solve.solution}, x_solve.block, comm)
    if comm.rank == 0:
        potential = _cell_potential(comm, x_solve, labels.shape)
        if potential is not None:
            potential[~mask] = np.nan  # outside the transport phase
        slices_png(out / "electrode_slices.png", labels, potential, voxel_size)
        bruggeman_png(out / "bruggeman.png", *zip(*usable), b)
    else:
        _cell_potential(comm, x_solve, labels.shape)

    method = f"{cfg.scheme.upper()} voxel solve, Dirichlet on two opposite faces, CG+AMG ({source})"
    params = {
        "porosity": Parameter(float(mask.mean()), "1", f"volume fraction of the transport phase {cfg.phase!r}",
                              f"voxel count ({source})"),
        "specific_surface_area": Parameter(
            ssa, "1/m", f"interface area of phase label {surface_label} per electrode volume",
            "voxel face count x 2/3 (isotropic-surface correction)"),
        "bruggeman_exponent": Parameter(
            b, "1", "b in sigma_eff/sigma = porosity^b",
            f"least squares of ln(ratio) on ln(porosity) over {len(usable)} structures, {method}", b_err),
    }
    for r in rows:
        name = AXIS_NAMES[r["axis"]]
        params[f"tortuosity_{name}"] = Parameter(
            r["tortuosity"], "1", f"tortuosity factor tau = eps sigma / sigma_eff along {name} (inf: no path)",
            method)
        params[f"effective_conductivity_ratio_{name}"] = Parameter(
            r["ratio"], "1", f"sigma_eff / sigma of the phase along {name}", method)
    results = {
        "directions": {k: np.array([r[k] for r in rows], dtype=float)
                       for k in ("tortuosity", "ratio", "iterations", "conservation_error")},
        "bruggeman": {"porosity": np.array([e for e, _ in usable]), "ratio": np.array([r for _, r in usable])},
        "volume_fractions": {f"label_{v}": volume_fraction(labels, v) for v in np.unique(labels)},
        "percolating_fraction": np.array(conn["percolating_fraction"]),
        "shape": np.array(labels.shape), "voxel_size": (voxel_size, "m"),
    }
    path = out / "electrode.h5"
    write_params(path, "microstructure", params, results=results, config=config_text(config_path),
                 inputs=[cfg.image] if cfg.image else [], comm=comm)
    LOG.info("wrote %s (tortuosity x/y/z %s, Bruggeman b = %.3f)", path,
             " / ".join(f"{r['tortuosity']:.3f}" for r in rows), b)
    return path


def write_structure_fields(comm, path: Path, labels: np.ndarray, voxel_size: float) -> None:
    """The label image in parallel HDF5 + XDMF, each rank a slab along axis 0 (values at voxel centres)."""
    rows = split_evenly(labels.shape[0], comm.size, comm.rank)
    block = Block(labels.shape, (rows.start, 0, 0), (len(rows),) + labels.shape[1:], (voxel_size,) * 3,
                  (voxel_size / 2,) * 3)
    write_fields(path, {"labels": labels[rows.start:rows.stop].astype(np.float64)}, block, comm)


def _cell_potential(comm, solve: TransportResult | None, shape) -> np.ndarray | None:
    """The x-potential gathered on rank 0 (collective; node fields are averaged to voxel centres)."""
    if solve is None:
        return None
    parts = comm.gather((solve.block.slices, solve.solution), root=0)
    if comm.rank != 0:
        return None
    full = np.full(solve.block.global_shape, np.nan)
    for box, values in parts:
        full[box] = values
    if full.shape != tuple(shape):  # Q1 nodes: average the 8 corners of each voxel
        full = sum(full[a:a + shape[0], b:b + shape[1], c:c + shape[2]]
                   for a in (0, 1) for b in (0, 1) for c in (0, 1)) / 8.0
    return full
