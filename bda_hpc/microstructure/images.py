"""Segmented voxel images from disk: NumPy (.npy/.npz), HDF5 (.h5/.hdf5) and TIFF stacks.

The array axes (0, 1, 2) are the directions x, y, z of every result. A TIFF
stack is one multi-page file (pages along axis 0) or a directory of 2D TIFF
files sorted by name. Labels must be integers (a segmented image).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from . import PHASE_NAMES


def read_image(path, dataset: str | None = None) -> np.ndarray:
    """The labelled 3D image at ``path`` (``dataset`` picks an HDF5 dataset or an .npz member)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"image {path} does not exist", collective=True)
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            image = _read_tiff_dir(path)
        elif suffix == ".npy":
            image = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                image = archive[_pick(list(archive.keys()), dataset, path)]
        elif suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                names = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and v.ndim == 3]
                image = f[_pick(names, dataset, path)][...]
        elif suffix in (".tif", ".tiff"):
            import tifffile

            image = tifffile.imread(path)
        else:
            raise InputError(f"image {path}: unknown format {suffix!r} (use .npy, .npz, .h5, .tif or a "
                             "directory of .tif slices)", collective=True)
    except InputError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"image {path}: cannot read it ({exc})", collective=True) from None
    return check_image(image, path)


def _pick(names: list[str], wanted: str | None, path: Path) -> str:
    if wanted is not None:
        if wanted not in names:
            raise InputError(f"image {path}: no 3D dataset {wanted!r} (has: {', '.join(names) or 'none'})",
                             collective=True)
        return wanted
    if len(names) != 1:
        raise InputError(f"image {path}: {len(names)} 3D datasets ({', '.join(names) or 'none'}); "
                         "name one with --dataset", collective=True)
    return names[0]


def _read_tiff_dir(path: Path) -> np.ndarray:
    import tifffile

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
    if not files:
        raise InputError(f"image directory {path} holds no .tif files", collective=True)
    return np.stack([tifffile.imread(f) for f in files])


def check_image(image: np.ndarray, where) -> np.ndarray:
    """A 3D integer image, or one clear error."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise InputError(f"image {where}: need a 3D array, got shape {image.shape}", collective=True)
    if min(image.shape) < 2:
        raise InputError(f"image {where}: every axis needs at least 2 voxels, got shape {image.shape}",
                         collective=True)
    if image.dtype == bool:
        return image.astype(np.uint8)
    if not np.issubdtype(image.dtype, np.integer):
        if not np.all(np.isfinite(image)) or not np.all(image == np.round(image)):
            raise InputError(f"image {where}: labels must be integers (segment the image first); "
                             f"got {image.dtype} values", collective=True)
        image = image.astype(np.int64)
    return image


def phase_label(image: np.ndarray, phase, where="image") -> int:
    """The integer label of ``phase`` (a name: pore, active, cbd; or a label value) present in ``image``."""
    present = np.unique(image)
    if isinstance(phase, str) and phase.lower() in PHASE_NAMES:
        label = PHASE_NAMES[phase.lower()]
    else:
        try:
            label = int(phase)
        except (TypeError, ValueError):
            raise InputError(f"unknown phase {phase!r}: use one of {', '.join(PHASE_NAMES)} or an integer "
                             f"label ({where} has labels {', '.join(map(str, present))})", collective=True) from None
    if label not in present:
        raise InputError(f"phase {phase!r} (label {label}) does not occur in {where}; it has labels "
                         f"{', '.join(map(str, present))}", collective=True)
    return label
