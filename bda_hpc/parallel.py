"""Communicators, rank-aware logging and collective error handling.

Every object doing collective work takes ``comm`` explicitly; only the CLI
falls back to ``MPI.COMM_WORLD`` (see :func:`world`).
"""
from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from .errors import BdaError

LOG_FORMAT = "%(asctime)s [rank %(rank)d] %(levelname)s %(name)s: %(message)s"


def world():
    """MPI.COMM_WORLD, imported lazily so that `--help` does not start MPI."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


def single_process_threads() -> None:
    """One thread per rank unless the user asked otherwise (set before numpy/numba load)."""
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


class _RankFilter(logging.Filter):
    def __init__(self, rank: int):
        super().__init__()
        self.rank = rank

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.rank
        return True


def setup_logging(comm, level: str = "INFO", log_dir: str | os.PathLike | None = None) -> logging.Logger:
    """Rank 0 logs at ``level``, other ranks at WARNING; ``log_dir`` adds one file per rank at ``level``."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise BdaError(f"--log-level: unknown level {level!r} (use DEBUG, INFO, WARNING or ERROR)", collective=True)
    root = logging.getLogger("bda_hpc")
    root.handlers.clear()
    root.setLevel(logging.DEBUG)
    root.propagate = False
    rank_filter = _RankFilter(comm.rank)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(numeric if comm.rank == 0 else max(numeric, logging.WARNING))
    console.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
    console.addFilter(rank_filter)
    root.addHandler(console)
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        per_rank = logging.FileHandler(Path(log_dir) / f"rank{comm.rank:05d}.log")
        per_rank.setLevel(numeric)
        per_rank.setFormatter(logging.Formatter(LOG_FORMAT))
        per_rank.addFilter(rank_filter)
        root.addHandler(per_rank)
    return root


def report_and_exit(comm, exc: BaseException) -> None:
    """Print ``exc`` once and end the whole job with a non-zero exit, never leaving ranks waiting.

    A collective :class:`BdaError` is raised by every rank at the same point:
    rank 0 prints it and every rank exits. Anything else happened on this rank
    alone while others may sit in a collective call, so this rank prints it
    with its number and aborts the communicator.
    """
    collective = isinstance(exc, BdaError) and exc.collective
    if isinstance(exc, BdaError):
        message = f"error: {exc}"
    else:
        # The traceback is for developers: it goes to the log (DEBUG, or the per-rank files).
        logging.getLogger("bda_hpc").debug("traceback:\n%s", "".join(traceback.format_exception(exc)).rstrip())
        message = f"error: unexpected {type(exc).__name__}: {exc} (traceback with --log-level DEBUG)"
    if not collective or comm.rank == 0:
        where = "" if collective or comm.size == 1 else f" [rank {comm.rank} of {comm.size}]"
        print(message.replace("error:", f"error{where}:", 1), file=sys.stderr, flush=True)
    if collective or comm.size == 1:
        sys.exit(1)
    sys.stdout.flush()
    comm.Abort(1)


def guarded(comm_getter: Callable = world):
    """Decorator for stage entry points: any exception ends the job cleanly (see :func:`report_and_exit`)."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            comm = comm_getter()
            try:
                return fn(*args, **kwargs)
            except SystemExit:
                raise
            except BaseException as exc:  # noqa: BLE001 - every failure must end the job
                report_and_exit(comm, exc)

        return inner

    return wrap


def all_ok(comm, ok: bool, message: str) -> None:
    """Collective check: if any rank has ``ok`` False, every rank raises the same error.

    Use it to validate rank-local inputs before a collective call, so that a
    bad input on one rank becomes one clean message instead of an abort.
    """
    failed = comm.allgather(None if ok else message)
    bad = [(rank, msg) for rank, msg in enumerate(failed) if msg is not None]
    if bad:
        rank, msg = bad[0]
        suffix = f" (on rank {rank})" if comm.size > 1 else ""
        raise BdaError(msg + suffix, collective=True)


def root_first(comm, fn: Callable, *args, **kwargs):
    """Run ``fn`` on rank 0, then on the other ranks (JIT caches on a shared file system)."""
    result = fn(*args, **kwargs) if comm.rank == 0 else None
    comm.Barrier()
    if comm.rank != 0:
        result = fn(*args, **kwargs)
    return result


def split_evenly(n: int, size: int, rank: int) -> range:
    """The block of ``range(n)`` that ``rank`` of ``size`` owns (sizes differ by at most one)."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))
