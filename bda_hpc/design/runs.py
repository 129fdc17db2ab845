"""A table of runs being filled: submit points (checked against the box first), record outcomes
(failures included), checkpoint after every batch, and resume from the checkpoint."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.params import write_params
from .dataset import Dataset, read_dataset
from .problems import Problem
from .space import DesignSpace

log = logging.getLogger("bda_hpc.design")


class RunTable:
    def __init__(self, problem: Problem, space: DesignSpace, evaluator, checkpoint: Path | None = None):
        self.problem, self.space, self.evaluator = problem, space, evaluator
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.data = self._resume() or self._new()

    def _new(self) -> Dataset:
        names = list(self.problem.outputs)
        return Dataset(self.space.names, names, [v.units for v in self.space.variables],
                       [self.problem.outputs[n] for n in names])

    def _resume(self) -> Dataset | None:
        if not (self.checkpoint and self.checkpoint.exists()):
            return None
        data = read_dataset(self.checkpoint)
        if data.input_names != self.space.names or data.output_names != list(self.problem.outputs):
            raise InputError(f"checkpoint {self.checkpoint}: written for inputs {data.input_names} and outputs "
                             f"{data.output_names}, not this problem's; remove it or choose another out dir")
        log.info("resuming from %s: %d simulations done", self.checkpoint, len(data))
        return data

    def simulate(self, X: np.ndarray, origin: str, predictions: list[dict] | None = None) -> None:
        self.space.check(X, where=f"{origin} point")  # nothing outside the accepted box is submitted
        results = self.evaluator(self.problem, self.space.as_dicts(X))
        for k, (x, (outputs, message, seconds)) in enumerate(zip(X, results)):
            self.data.append(x, outputs, origin, message, seconds, predictions[k] if predictions else None)
            if outputs is None:
                log.warning("%s run %d failed: %s", origin, len(self.data) - 1, message)
        if self.checkpoint:
            write_params(self.checkpoint, "design", {}, results={"dataset": self.data.to_results()})


def random_search(problem: Problem, space: DesignSpace, evaluator, n: int, seed: int,
                  checkpoint: Path | None = None, progress=log.info) -> Dataset:
    """n uniformly random runs (the baseline a design loop must beat at the same budget)."""
    runs = RunTable(problem, space, evaluator, checkpoint)
    X = space.sample(n, "random", seed + 7919)  # a different stream from the loop's initial sample
    chunk = max(2 * getattr(evaluator, "workers", 1), 4)
    for start in range(len(runs.data), n, chunk):
        runs.simulate(X[start:start + chunk], "random")
        progress(f"random search: {len(runs.data)}/{n} simulations")
    return runs.data
