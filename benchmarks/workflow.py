"""Batch-driver overhead and concurrency, against running the same stage commands by hand.

    python benchmarks/workflow.py [--quick] [--np CORES] --json PATH

Cases (each stage is a small script that reads its upstream parameter files and
writes one, so start-up and HDF5 I/O are real; ``work_s`` adds a fixed sleep):

* chain: N stages one after another. Peer: the same command lines run one by one
  with ``subprocess.run`` (what a shell script would do). Reported: the driver's
  extra wall time per stage.
* independent: N stages that read nothing, on CORES cores. Peer: the same
  commands one by one. Reported: speed-up, parallel efficiency (speed-up / CORES)
  and the mean number of stages running at once (from the state records; on a
  loaded machine this shows the scheduling where the speed-up cannot).
* rerun: the chain again with everything up to date (the cost of deciding to skip).
* sweep: one stage with M cases on CORES cores, cases per second.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE_SCRIPT = '''
import argparse, time
from pathlib import Path
from bda_hpc.config import read_toml
from bda_hpc.io.params import Parameter, read_params, write_params
p = argparse.ArgumentParser()
p.add_argument("--config"); p.add_argument("--out-dir"); p.add_argument("--params", action="append", default=[])
p.add_argument("--set", action="append", default=[])
a = p.parse_args()
cfg = read_toml(a.config)["bench"]
time.sleep(cfg["work_s"])
x = 1.0 + sum(read_params(f).require("x", units="m") for f in a.params)
write_params(Path(a.out_dir) / cfg["output"], "bench", {"x": Parameter(x, "m")}, inputs=a.params)
'''


def write_case(directory: Path, n: int, chained: bool, work_s: float, sweep: int = 0) -> Path:
    (directory / "stage.py").write_text(STAGE_SCRIPT)
    tables = ["[pipeline]\nname = \"bench\"\nreport = false\n"]
    for i in range(n):
        (directory / f"s{i}.toml").write_text(f'[bench]\nwork_s = {work_s}\noutput = "s{i}.h5"\n')
        reads = [f"s{i - 1}.h5"] if chained and i > 0 else []
        table = (f'[[stage]]\nname = "s{i}"\nscript = "stage.py"\nconfig = "s{i}.toml"\n'
                 f'reads = {json.dumps(reads)}\nwrites = ["s{i}.h5"]\nprovides = ["x"]\n')
        if sweep:
            table += f'[stage.sweep]\nvalues = {{ "bench.k" = {list(range(sweep))} }}\n'
        tables.append(table)
    path = directory / "pipeline.toml"
    path.write_text("\n".join(tables))
    return path


def drive(spec: Path, run_dir: Path, cores: int) -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "bda_hpc.cli", "run", str(spec), "--run-dir", str(run_dir),
                          "--cores", str(cores), "--log-level", "WARNING"], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{out.stdout}\n{out.stderr}")
    return elapsed


def mean_concurrency(run_dir: Path) -> float:
    """Stage-seconds per wall second between the first start and the last end (from the state records):
    how many stages the driver kept running at once, whatever the machine's load did to their speed."""
    records = [json.loads(p.read_text()) for p in (run_dir / "state").glob("*.json")]
    spans = [(r["started"], r["finished"]) for r in records if r.get("started") and r.get("finished")]
    return sum(e - s for s, e in spans) / (max(e for _, e in spans) - min(s for s, _ in spans))


def by_hand(run_dir: Path) -> float:
    """The peer: the command lines the driver resolved, run one after another, no driver."""
    from bda_hpc.workflow.plan import Plan

    plan = Plan.load(run_dir / "resolved.json")
    start = time.perf_counter()
    for stage in plan.stages.values():
        argv = list(stage.argv)
        argv[argv.index("--out-dir") + 1] += "-by-hand"     # inputs stay the driver's outputs: same work
        subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 stages, 4 sweep cases (about a minute)")
    parser.add_argument("--np", type=int, default=2, help="cores the driver may use (default 2)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    n, cases, work_s = (4, 4, 0.5) if args.quick else (8, 8, 1.0)
    results: dict = {"cores": args.np, "stages": n, "sweep_cases": cases, "work_s": work_s,
                     "machine": os.uname().nodename, "cpu_count": os.cpu_count(),
                     "load_average_before": os.getloadavg()[0]}     # a shared machine: read figures with it
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, chained in (("chain", True), ("independent", False)):
            (tmp / name).mkdir()
            spec = write_case(tmp / name, n, chained, work_s)
            driver_s = drive(spec, tmp / name / "run", args.np)
            hand_s = by_hand(tmp / name / "run")
            results[name] = {"driver_s": driver_s, "by_hand_s": hand_s}
            if name == "chain":
                results[name]["overhead_per_stage_s"] = (driver_s - hand_s) / n
                results["rerun_up_to_date_s"] = drive(spec, tmp / name / "run", args.np)
            else:
                results[name]["speedup"] = hand_s / driver_s
                results[name]["parallel_efficiency"] = hand_s / driver_s / args.np
                results[name]["mean_concurrency"] = mean_concurrency(tmp / name / "run")
        (tmp / "sweep").mkdir()
        spec = write_case(tmp / "sweep", 1, False, work_s, sweep=cases)
        sweep_s = drive(spec, tmp / "sweep" / "run", args.np)
        results["sweep"] = {"driver_s": sweep_s, "cases_per_s": cases / sweep_s,
                            "mean_concurrency": mean_concurrency(tmp / "sweep" / "run")}
    results["load_average_after"] = os.getloadavg()[0]
    print(f"load average {results['load_average_before']:.1f} -> {results['load_average_after']:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'case':<14}{'driver [s]':>12}{'by hand [s]':>13}  figure")
    c, i = results["chain"], results["independent"]
    print(f"{'chain':<14}{c['driver_s']:>12.2f}{c['by_hand_s']:>13.2f}  {c['overhead_per_stage_s']:+.2f} s/stage")
    print(f"{'independent':<14}{i['driver_s']:>12.2f}{i['by_hand_s']:>13.2f}  speed-up {i['speedup']:.2f} "
          f"on {args.np} cores, efficiency {i['parallel_efficiency']:.0%}, {i['mean_concurrency']:.2f} at once")
    print(f"{'rerun':<14}{results['rerun_up_to_date_s']:>12.2f}{'':>13}  all {n} stages up to date")
    print(f"{'sweep':<14}{results['sweep']['driver_s']:>12.2f}{'':>13}  {results['sweep']['cases_per_s']:.2f} "
          f"cases/s ({cases} cases + gather), {results['sweep']['mean_concurrency']:.2f} at once")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
