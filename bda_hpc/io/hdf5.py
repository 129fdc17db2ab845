"""Opening an HDF5 file that must exist: a missing or unreadable file is one clear error."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import BdaError, InputError


def open_existing(path: str | os.PathLike, what: str, error: type[BdaError] = InputError, *,
                  opener: Callable | None = None, collective: bool = False):
    """Open ``path`` for reading (``opener(path)`` if given, e.g. an MPI-IO open; else serial h5py).

    ``what`` names the kind of file in the messages ("parameter file", "NNP model file"); a missing file
    and one HDF5 cannot read (truncated, damaged, not HDF5) each raise ``error`` naming the path."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist", collective=collective)
    try:
        return opener(path) if opener is not None else h5py.File(path, "r")
    except OSError as exc:
        raise error(f"{path}: not a readable {what} (truncated or damaged, or not HDF5): {exc}",
                    collective=collective) from None
