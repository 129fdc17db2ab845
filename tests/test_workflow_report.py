"""The report's provenance and plots, on parameter files written directly (no pipeline run needed)."""
import numpy as np

from bda_hpc.io.params import Parameter, write_params
from bda_hpc.workflow.plan import Plan, PlannedStage
from bda_hpc.workflow.report import write_report
from bda_hpc.workflow.state import DONE, Record, write_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def stage(run, name, outputs, upstream=(), cases=None, provides=()):
    return PlannedStage(name=name, argv=["python", "-m", "x", "--out-dir", str(run / name)], ranks=1,
                        time="1", memory="1G", out_dir=str(run / name), inputs=[], upstream=list(upstream),
                        outputs=outputs, provides=list(provides), config=None, cases=cases)


def test_provenance_traces_inputs_and_flags_changed_ones(tmp_path):
    run = tmp_path / "run"
    a_file, b_file = run / "a" / "a.h5", run / "b" / "b.h5"
    write_params(a_file, "atomistic", {"gamma": Parameter(0.5, "J/m^2", "surface energy", "toy")})
    t = np.linspace(0, 10, 21)
    write_params(b_file, "phasefield", {"height": Parameter(2e-6, "m", uncertainty=1e-7)}, inputs=[a_file],
                 results={"series": {"time": (t, "s"), "tip": (1e-7 * t, "m")}, "grid": (np.array([64, 64]), "1")})
    plan = Plan(name="t", spec_path="p.toml", run_dir=str(run), cores=2,
                stages={"a": stage(run, "a", ["a.h5"]),
                        "b": stage(run, "b", ["b.h5"], upstream=["a"], provides=["height"])})
    plan.save(run / "resolved.json")
    for name in "ab":
        write_record(run, Record(stage=name, status=DONE, started=100.0, finished=103.5))
    md = (write_report(run).parent / "report.md").read_text()
    assert "| a.h5 | stage a |" in md and "| unchanged |" in md
    assert "| b | height | 2e-06 ± 1e-07 | m | b.h5 |" in md       # the key-parameter summary
    assert "| height | 2e-06 | m | 1e-07 |" in md and "| gamma | 0.5 | J/m^2 |" in md
    assert "| grid | [64, 64] | 1 |" in md                  # short arrays: a table, not a plot
    assert "![b.h5 results/series against time](b_0.png)" in md
    assert (run / "report" / "b_0.png").read_bytes()[:8] == PNG_MAGIC
    write_params(a_file, "atomistic", {"gamma": Parameter(0.6, "J/m^2")})     # upstream changed afterwards
    md = (write_report(run).parent / "report.md").read_text()
    assert "CHANGED since (re-run this stage)" in md
    html = (run / "report" / "report.html").read_text()
    assert "<td>height</td>" in html and "<img src='timeline.png'>" in html


def test_sweep_table_gets_a_plot(tmp_path):
    from bda_hpc.workflow.sweep import gather_sweep, read_sweep_table

    run = tmp_path / "run"
    cases = [{"m.alpha": a} for a in (0.1, 1.0, 10.0)]
    s = stage(run, "s", ["s.h5"], cases=cases)
    for i, case in enumerate(cases):
        write_params(s.case_dir(i) / "s.h5", "lifetime", {"rmse": Parameter(5.0 + case["m.alpha"], "1")})
    table = gather_sweep(s)
    plan = Plan(name="t", spec_path="p.toml", run_dir=str(run), cores=2, stages={"s": s})
    plan.save(run / "resolved.json")
    md = (write_report(run).parent / "report.md").read_text()
    assert "![s_sweep.h5: each result against each swept key](s_sweep.png)" in md
    assert "| s.h5 | stage s, case 2 |" in md
    assert (run / "report" / "s_sweep.png").read_bytes()[:8] == PNG_MAGIC
    keys, columns, units = read_sweep_table(table)
    np.testing.assert_allclose(columns["rmse"], [5.1, 6.0, 15.0])
    assert keys == ["m.alpha"] and units["rmse"] == "1"
