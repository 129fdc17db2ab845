"""Which NNP model a LAMMPS run uses, and a random-weight stand-in for timings and cross-checks.

:func:`random_model` has the production architecture (descriptor set of the mlff settings, the
default hidden layers) with random weights: its cost per atom equals a trained model's and it
exercises every code path, so it serves benchmarks and implementation cross-checks when no
trained model is at hand. It is not physics and is never used by the `md` workflows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InputError


def random_model(seed: int = 0, hidden: tuple[int, ...] = (24, 24), weight_scale: float = 0.5):
    from ..model_file import ElementNetwork, NNPModel
    from ..settings import DescriptorSettings

    rng = np.random.default_rng(seed)
    dset = DescriptorSettings().build()
    sizes = [dset.size, *hidden, 1]
    weights = [rng.normal(0, weight_scale / np.sqrt(nin), (nout, nin)) for nin, nout in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.1, nout) for nout in sizes[1:]]
    net = ElementNetwork("Li", -1.9, rng.normal(0, 1, dset.size), np.exp(rng.normal(0, 1, dset.size)), weights, biases)
    return NNPModel(dset, [net], provenance={"note": f"random weights, seed {seed}: not a trained model"})


def trained_model_path(path: str | Path | None = None) -> Path:
    """The configured model, or the one shipped with the package; InputError when neither exists."""
    from ..model_file import default_model_path

    model = Path(path) if path else default_model_path()
    if not model.is_file():
        raise InputError(f"NNP model file {model} does not exist"
                         + ("" if path else " (no model is shipped yet: train one with `bda-hpc mlff train`)"))
    return model
