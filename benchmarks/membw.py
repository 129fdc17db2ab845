"""Memory bandwidth of one core alone and of every core at once (a STREAM-like triad), JSON out.

Sparse matrix products, ILU and AMG sweeps stream their matrices from memory;
when every core streams at once they share the memory bus, and that, not the
solver, caps their speed-up from 1 to N ranks. This measures the cap on the
machine the scaling benchmarks (pf_scaling.py, md.py) ran on:

    python benchmarks/membw.py [--quick] [--repeat 4] [--json benchmarks/results/membw.json]

Each process is pinned to its own core and runs a = 3 c + b (40 bytes moved per
entry) on arrays of --mb MB; the concurrent processes start every pass together
(a barrier), so the passes overlap. Per pass, GB/s = bytes / time; a trial keeps
each process's best pass. ``bandwidth_speedup`` = summed concurrent bandwidth over
the alone bandwidth: the most a purely bandwidth-bound kernel can gain from
using every core.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path

from bda_hpc.info import cpu_model


def _triad(core: int, n: int, passes: int, barrier, out) -> None:
    import numpy as np

    os.sched_setaffinity(0, {core})
    a, b, c = np.empty(n), np.ones(n), np.ones(n)
    best = 0.0
    for _ in range(passes):
        barrier.wait()
        t0 = time.perf_counter()
        np.multiply(c, 3.0, out=a)
        np.add(a, b, out=a)
        best = max(best, 40 * n / (time.perf_counter() - t0) / 1e9)
    out.put((core, best))


def trial(cores: list[int], n: int, passes: int) -> list[float]:
    """Best-pass GB/s of one pinned process per core, all passes started together."""
    barrier, out = mp.Barrier(len(cores)), mp.Queue()
    procs = [mp.Process(target=_triad, args=(c, n, passes, barrier, out)) for c in cores]
    for p in procs:
        p.start()
    results = dict(out.get() for _ in procs)
    for p in procs:
        p.join()
    return [results[c] for c in cores]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 MB arrays, 2 repeats (seconds)")
    ap.add_argument("--repeat", type=int, default=4, help="alone / all-cores trials, interleaved")
    ap.add_argument("--mb", type=int, default=400, help="size of each of the three arrays (MB)")
    ap.add_argument("--passes", type=int, default=8, help="passes per trial; the best one counts")
    ap.add_argument("--json", default="benchmarks/results/membw.json")
    args = ap.parse_args()
    mb, repeat = (100, 2) if args.quick else (args.mb, args.repeat)
    cores = sorted(os.sched_getaffinity(0))
    n = mb * 10**6 // 8
    alone, together = [], []
    for r in range(repeat):
        alone.append(trial(cores[:1], n, args.passes)[0])
        together.append(trial(cores, n, args.passes))
        print(f"trial {r + 1}/{repeat}: alone {alone[-1]:.1f} GB/s, {len(cores)} at once "
              f"{' + '.join(f'{x:.1f}' for x in together[-1])} GB/s", flush=True)
    alone_med = statistics.median(alone)
    sum_med = statistics.median(sum(t) for t in together)
    out = {"benchmark": "membw", "machine": os.uname().nodename, "cpu": cpu_model(), "cores": len(cores),
           "array_mb": mb, "load_avg": os.getloadavg(), "alone_gbs": alone, "together_gbs": together,
           "alone_gbs_median": alone_med, "together_sum_gbs_median": sum_med,
           "bandwidth_speedup": sum_med / alone_med}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"{len(cores)} cores stream {sum_med:.1f} GB/s together, one alone {alone_med:.1f} GB/s: a bandwidth-bound "
          f"kernel can speed up at most {out['bandwidth_speedup']:.2f}x; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
