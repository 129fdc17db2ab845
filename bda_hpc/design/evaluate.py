"""Run a batch of simulations: in this process, or side by side in worker processes.

Each run is isolated: an exception (or a crashed worker) marks that run failed with its message and
the batch goes on. Workers are started with ``spawn`` (a fork would copy PETSc/MPI state) and are
single-threaded, one per core.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

log = logging.getLogger("bda_hpc.design")


def run_one(problem, point: dict):
    """(outputs or None, message, seconds) of one simulation; never raises for a failed run."""
    start = time.perf_counter()
    try:
        outputs = problem.simulate(point)
        return outputs, "", time.perf_counter() - start
    except Exception as exc:  # a failed simulation is data, not a crash of the loop
        log.debug("run %s failed:\n%s", point, traceback.format_exc())
        return None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start


def _init_worker():
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["NUMBA_NUM_THREADS"] = "1"


class SerialEvaluator:
    workers = 1

    def __call__(self, problem, points: list[dict]) -> list[tuple]:
        return [run_one(problem, p) for p in points]

    def close(self):
        pass


class PoolEvaluator:
    """``workers`` processes kept alive across batches; a crashed worker fails its runs, not the loop."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = None

    def _executor(self):
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker)
        return self._pool

    def __call__(self, problem, points: list[dict]) -> list[tuple]:
        futures = [self._executor().submit(run_one, problem, p) for p in points]
        results = []
        for fut in futures:
            try:
                results.append(fut.result())
            except BrokenProcessPool:
                results.append((None, "worker process died (crash or out of memory)", 0.0))
            except Exception as exc:  # e.g. the problem could not be pickled to the worker
                results.append((None, f"{type(exc).__name__}: {exc}", 0.0))
        if any(r[1] == "worker process died (crash or out of memory)" for r in results):
            self.close()  # start a fresh pool for the next batch
        return results

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def make_evaluator(workers: int):
    return SerialEvaluator() if workers <= 1 else PoolEvaluator(workers)
