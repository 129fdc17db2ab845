"""The report stage: ``RUN_DIR/report/report.html`` and ``report.md`` with PNG plots.

For every parameter file the run produced: its stage, when and from which
commit it was written, the inputs it was computed from (each traced to the
stage that wrote it, and flagged when that file has changed since), its
parameters with units, uncertainty and method, and plots of its 1-D result
curves. Sweep tables get one plot per result against each swept key. A
timeline shows where the wall time went.

``python -m bda_hpc.workflow.report RUN_DIR`` (the SLURM report job) and
``bda-hpc report RUN_DIR`` do the same.
"""
from __future__ import annotations

import datetime as dt
import html
import shutil
import sys
from pathlib import Path

import numpy as np

from ..errors import BdaError, ParameterFileError
from ..io.params import ParameterSet, file_sha256, read_params
from .plan import Plan
from .rundir import RESOLVED
from .state import DONE, read_record
from .status import run_status
from .sweep import SWEEP_STAGE, read_sweep_table

X_AXIS_NAMES = ("time", "t", "cycle", "cycles", "step", "x", "position", "temperature", "capacity", "soc",
                "porosity")
MAX_CURVES = 6
MIN_CURVE_POINTS = 8     # shorter arrays (per direction, per phase) read better as a table than as a plot


def _fmt(value) -> str:
    if isinstance(value, (bytes, str)):
        return value.decode() if isinstance(value, bytes) else value
    arr = np.asarray(value)
    if arr.dtype.kind in "SUO":            # strings (step names, labels)
        return ", ".join(v.decode() if isinstance(v, bytes) else str(v) for v in arr.ravel()[:6])
    if arr.ndim == 0:
        return f"{float(arr):.6g}"
    if arr.size <= 6:
        return "[" + ", ".join(f"{float(v):.4g}" for v in arr.ravel()) + "]"
    return f"array {arr.shape}, {np.nanmin(arr):.4g} .. {np.nanmax(arr):.4g}"


class Document:
    """Headings, paragraphs, tables and images, rendered both as Markdown and as HTML."""

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("t", header, rows))

    def image(self, name: str, caption: str) -> None:
        self.blocks.append(("i", name, caption))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            if block[0] == "h":
                out += ["#" * block[1] + " " + block[2], ""]
            elif block[0] == "p":
                out += [block[1], ""]
            elif block[0] == "t":
                clean = [[c.replace("|", "\\|") for c in row] for row in [block[1]] + block[2]]
                out += ["| " + " | ".join(clean[0]) + " |", "|" + "---|" * len(block[1])]
                out += ["| " + " | ".join(row) + " |" for row in clean[1:]] + [""]
            else:
                out += [f"![{block[2]}]({block[1]})", ""]
        return "\n".join(out)

    def html(self) -> str:
        e = html.escape
        out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(self.title)}</title>",
               "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}"
               "td,th{border:1px solid #bbb;padding:2px 6px;text-align:left}img{max-width:100%}</style>",
               f"</head><body><h1>{e(self.title)}</h1>"]
        for block in self.blocks:
            if block[0] == "h":
                out.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
            elif block[0] == "p":
                out.append(f"<p>{e(block[1])}</p>")
            elif block[0] == "t":
                out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in block[1]) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block[2]]
                out.append("</table>")
            else:
                out.append(f"<figure><img src='{e(block[1])}'><figcaption>{e(block[2])}</figcaption></figure>")
        return "\n".join(out + ["</body></html>"])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read_results(path: Path) -> tuple[list, list[list[str]]]:
    """From /results: (group, x, x units, [(name, y, units)]) per group of 1-D curves of one length with
    an x axis named in X_AXIS_NAMES, and table rows [name, value, units] for scalars and short arrays."""
    import h5py

    found, small = [], []

    def visit(group, where):
        curves = {}
        for name, item in group.items():
            if isinstance(item, h5py.Group):
                visit(item, f"{where}/{name}")
                continue
            units = str(item.attrs.get("units", ""))
            if item.ndim == 1 and item.shape[0] >= MIN_CURVE_POINTS and np.issubdtype(item.dtype, np.number):
                curves[name] = (item[()], units)
            elif item.size <= MIN_CURVE_POINTS:
                small.append([f"{where}/{name}"[len("results/"):], _fmt(item[()]), units])
        by_length: dict[int, list[str]] = {}
        for name, (values, _) in curves.items():
            by_length.setdefault(len(values), []).append(name)
        for names in by_length.values():
            lowered = {n.lower(): n for n in names}
            x_name = next((lowered[k] for k in X_AXIS_NAMES if k in lowered), None)   # time before capacity
            ys = [n for n in names if n != x_name]
            if x_name and ys:     # without a known x axis (data rows, samples) a line plot says nothing
                x, xu = curves[x_name]
                found.append((f"{where}:{x_name}", x, xu, [(n, *curves[n]) for n in ys[:MAX_CURVES]]))

    with h5py.File(path, "r") as f:
        if "results" in f:
            visit(f["results"], "results")
    return found, small


def _plot_curves(path: Path, curves: list, out: Path) -> list[tuple[str, str]]:
    plt = _pyplot()
    images = []
    for k, (where, x, xu, ys) in enumerate(curves):
        fig, axes = plt.subplots(len(ys), 1, figsize=(6, 1.8 + 1.6 * len(ys)), sharex=True, squeeze=False)
        for ax, (name, y, units) in zip(axes[:, 0], ys):
            ax.plot(x, y, lw=1.2)
            ax.set_ylabel(f"{name}\n[{units}]" if units else name, fontsize=8)
            ax.grid(alpha=0.3)
        group, x_name = where.split(":")
        axes[-1, 0].set_xlabel(f"{x_name} [{xu}]" if xu else x_name)
        fig.suptitle(f"{path.name}: {group}", fontsize=9)
        fig.tight_layout()
        name = f"{path.stem}_{k}.png"
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        images.append((name, f"{path.name} {group} against {x_name}"))
    return images


def _plot_sweep(path: Path, out: Path) -> str | None:
    keys, columns, units = read_sweep_table(path)
    numeric_keys = [k for k in keys if np.issubdtype(columns[k].dtype, np.number)]
    results = [n for n in units if n not in keys][:MAX_CURVES]
    if not numeric_keys or not results:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(results), len(numeric_keys), squeeze=False,
                             figsize=(3.2 * len(numeric_keys) + 1, 2.4 * len(results)))
    for i, name in enumerate(results):
        for j, key in enumerate(numeric_keys):
            ax = axes[i, j]
            ax.plot(columns[key], columns[name], "o", ms=4)
            ax.set_xlabel(key, fontsize=8)
            ax.set_ylabel(f"{name} [{units[name]}]", fontsize=8)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    name = f"{path.stem}.png"
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return name


def _plot_timeline(run_dir: Path, plan: Plan, out: Path) -> str | None:
    bars = []
    for stage in plan.stages.values():
        parts = [""] if stage.cases is None else [f"case-{i:04d}" for i in range(len(stage.cases))] + ["gather"]
        for part in parts:
            r = read_record(run_dir, stage.name, part)
            if r is not None and r.started is not None and r.finished is not None:
                bars.append((f"{stage.name} {part}".strip(), r.started, r.finished, r.status == DONE))
    if not bars:
        return None
    plt = _pyplot()
    t0 = min(b[1] for b in bars)
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.3 * len(bars)))
    for i, (_, start, end, ok) in enumerate(bars):
        ax.barh(i, end - start, left=start - t0, color="tab:blue" if ok else "tab:red")
    ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("wall time since the first stage started [s] (red: failed)")
    fig.tight_layout()
    fig.savefig(out / "timeline.png", dpi=90)
    plt.close(fig)
    return "timeline.png"


def _provenance(ps: ParameterSet, producers: dict[str, str]) -> list[list[str]]:
    rows = []
    for item in ps.meta.get("inputs", []):
        path, recorded = item.get("path", "?"), item.get("sha256", "")
        where = producers.get(path, "outside this run")
        try:
            current = file_sha256(path)
            check = "unchanged" if current == recorded else "CHANGED since (re-run this stage)"
        except OSError:
            check = "no longer on disk"
        rows.append([Path(path).name, where, recorded[:12], check])
    return rows


def _parameter_files(plan: Plan) -> list[tuple[str, Path]]:
    found = []
    for stage in plan.stages.values():
        for path in map(Path, stage.graph_outputs):
            if path.suffix == ".h5" and path.exists():
                found.append((stage.name, path))
    return found


def _key_parameters(plan: Plan, files: list[tuple[str, Path]]) -> list[list[str]]:
    rows = []
    for name, path in files:
        try:
            ps = read_params(path)
        except ParameterFileError:
            continue
        for key in plan.stages[name].provides:
            if key in ps:
                p = ps.parameters[key]
                value = _fmt(p.value) + ("" if p.uncertainty is None else f" ± {p.uncertainty:.3g}")
                rows.append([name, key, value, p.units, path.name])
    return rows


def write_report(run_dir: str | Path) -> Path:
    """Write the report for ``run_dir``; returns the path of report.html."""
    run_dir = Path(run_dir).resolve()
    plan = Plan.load(run_dir / RESOLVED)
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.png"):         # plots of an earlier report that this one may not redraw
        old.unlink()
    doc = Document(f"bda_hpc run: {plan.name}")
    doc.para(f"Run directory {run_dir}; pipeline {plan.spec_path}; report written "
             f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}.")
    rows = run_status(run_dir)
    doc.heading("Stages")
    doc.table(["stage", "state", "parts", "wall time", "note"],
              [[r.name, r.state, f"{r.parts_done}/{r.parts}", "" if r.elapsed is None else f"{r.elapsed:.1f} s",
                r.reason] for r in rows])
    timeline = _plot_timeline(run_dir, plan, out)
    if timeline:
        doc.image(timeline, "Where the wall time went: one bar per stage run")
    files = _parameter_files(plan)
    key_rows = _key_parameters(plan, files)
    if key_rows:
        doc.heading("Key parameters")
        doc.para("What each stage declares it provides (`provides` in the pipeline spec), as written.")
        doc.table(["stage", "parameter", "value", "units", "file"], key_rows)
    producers = {str(p): f"stage {name}" for name, p in files}
    for stage in plan.stages.values():       # the runs a sweep table was gathered from
        for case in range(len(stage.cases or [])):
            for name in stage.outputs:
                producers[str(stage.case_dir(case) / name)] = f"stage {stage.name}, case {case}"
    for name, path in files:
        try:
            ps = read_params(path)
        except ParameterFileError as exc:
            doc.heading(f"{name}: {path.name}")
            doc.para(f"could not be read: {exc}")
            continue
        doc.heading(f"{name}: {path.name} (stage attribute '{ps.meta.get('stage')}')")
        doc.para(f"Written {ps.meta.get('created')} by bda_hpc {ps.meta.get('code_version')}, "
                 f"commit {str(ps.meta.get('git_commit'))[:12]}.")
        provenance = _provenance(ps, producers)
        if provenance:
            doc.table(["input", "written by", "sha256 (recorded)", "now"], provenance)
        else:
            doc.para("Inputs: none (this stage starts from its own configuration).")
        if ps.parameters:
            doc.table(["parameter", "value", "units", "uncertainty", "method"],
                      [[n, _fmt(p.value), p.units, "" if p.uncertainty is None else f"{p.uncertainty:.3g}",
                        p.method] for n, p in sorted(ps.parameters.items())])
        if ps.meta.get("stage") == SWEEP_STAGE:
            image = _plot_sweep(path, out)
            if image:
                doc.image(image, f"{path.name}: each result against each swept key")
        else:
            curves, small = _read_results(path)
            if small:
                doc.table(["result", "value", "units"], small)
            for image, caption in _plot_curves(path, curves, out):
                doc.image(image, caption)
        for image in sorted(path.parent.glob("*.png")):       # the stage's own plots
            shutil.copyfile(image, out / f"{name}_{image.name}")
            doc.image(f"{name}_{image.name}", f"from stage {name}: {image.name}")
    for filename, text in (("report.md", doc.markdown()), ("report.html", doc.html())):
        tmp = out / f".{filename}.tmp"
        tmp.write_text(text)
        tmp.replace(out / filename)
    return out / "report.html"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m bda_hpc.workflow.report RUN_DIR", file=sys.stderr)
        return 2
    try:
        print(write_report(argv[0]))
    except BdaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
