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
from concurrent.futures import ProcessPoolExecutor, TimeoutError
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
    """``workers`` processes kept alive across batches; a crashed worker fails its runs, not the loop.

    ``timeout_s`` (0: none) bounds the wait for each run's result: a run that hangs (a solver or an MPI
    start-up that never returns) is recorded as failed and the pool is replaced."""

    def __init__(self, workers: int, timeout_s: float = 0.0):
        self.workers = workers
        self.timeout_s = timeout_s
        self._pool = None

    def _executor(self):
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker)
        return self._pool

    def __call__(self, problem, points: list[dict]) -> list[tuple]:
        futures = [self._executor().submit(run_one, problem, p) for p in points]
        results, restart = [], False
        for fut in futures:
            try:
                results.append(fut.result(timeout=self.timeout_s or None))
            except TimeoutError:
                results.append((None, f"no result within {self.timeout_s:g} s (run killed)", self.timeout_s))
                restart = True
            except BrokenProcessPool:
                results.append((None, "worker process died (crash or out of memory)", 0.0))
                restart = True
            except Exception as exc:  # e.g. the problem could not be pickled to the worker
                results.append((None, f"{type(exc).__name__}: {exc}", 0.0))
        if restart:
            self.close(kill=True)  # a fresh pool for the next batch
        return results

    def close(self, kill: bool = False):
        if self._pool is not None:
            if kill:  # hung workers never pick up the shutdown message
                for proc in list(getattr(self._pool, "_processes", {}).values()):
                    proc.terminate()
            self._pool.shutdown(wait=not kill, cancel_futures=True)
            self._pool = None


def make_evaluator(workers: int, timeout_s: float = 0.0):
    return SerialEvaluator() if workers <= 1 else PoolEvaluator(workers, timeout_s)
