"""A feature cache for the Severson splits: parse a split's CSVs and compute its features once, reuse after.

Each case of a driver sweep is a fresh process that would otherwise parse the 41 training CSVs
(1000 x 99 values each) and compute the same features again; that dominated the 100-case sweep. The
cache is one small HDF5 file per (split, features, cycles), named by a hash of everything the numbers
depend on: the resolved data directory, every cell file's name, size and modification time, the cycle
lives file, the feature names, the early/late cycles and the number of ΔQ(V) curve samples. A changed
file gives a new key, so a stale entry is never read; entries are written atomically (concurrent
sweep cases may race to write the same one, and either copy is complete).

A cache hit still reports every cell file of the split to :func:`data.note_read`: the cache *is* that
split's content, so the record of which splits a fit touched stays true.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from .data import note_read, read_severson_split, severson_cell_count
from .features import feature_matrix

log = logging.getLogger("bda_hpc.lifetime")
FORMAT = 1      # bump when the cached content or the feature code changes meaning


def cache_key(root: Path, split: str, names, early: int, late: int, curve_points: int) -> tuple[str, list[Path]]:
    """(hex digest, the split's cell files) for one cached feature matrix."""
    root = Path(root).resolve()
    files = [root / split / f"cell{k}.csv" for k in range(1, severson_cell_count(root, split) + 1)]
    stamp = [(p.name, *_stat(p)) for p in files + [root / "cycle_lives" / f"{split}_cycle_lives.csv"]]
    text = json.dumps({"format": FORMAT, "root": str(root), "split": split, "files": stamp, "names": list(names),
                       "early": early, "late": late, "curve_points": curve_points}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32], files


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat() if path.exists() else None
    return (st.st_size, st.st_mtime_ns) if st else (-1, -1)


def split_features(root, split: str, names, early: int, late: int, curve_points: int,
                   cache_dir: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(feature matrix, cycle lives) of one split; from ``cache_dir`` when an entry for exactly these inputs
    exists, else computed from the CSVs and stored there. ``cache_dir`` None or "": no cache."""
    if not cache_dir:
        cells = read_severson_split(root, split)
        return feature_matrix(cells, names, early, late, curve_points), np.array([c.cycle_life for c in cells])
    import h5py

    key, files = cache_key(root, split, names, early, late, curve_points)
    path = Path(cache_dir) / f"severson_{split}_{key}.h5"
    if path.is_file():
        with h5py.File(path, "r") as fh:
            X, y = fh["features"][...], fh["cycle_life"][...]
        for f in files:
            note_read(f)
        log.debug("feature cache hit: %s", path)
        return X, y
    X, y = split_features(root, split, names, early, late, curve_points, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with h5py.File(tmp, "w") as fh:
        fh["features"], fh["cycle_life"] = X, y
        fh["features"].attrs["names"] = json.dumps(list(names))
        fh.attrs.update(split=split, early=early, late=late, curve_points=curve_points, root=str(Path(root).resolve()))
    tmp.replace(path)
    log.debug("feature cache written: %s", path)
    return X, y
