"""Pipeline spec and plan: bad input is found before anything runs, with one clear message."""
from pathlib import Path

import pytest
from test_workflow_toystage import driver, toy_config, toy_stage, write_pipeline

from bda_hpc.errors import ConfigError
from bda_hpc.workflow.overrides import load_section_with_set, parse_set
from bda_hpc.workflow.plan import check_ranks, make_plan
from bda_hpc.workflow.spec import SweepSpec, load_spec


def plan_of(tmp_path: Path, stages: list[str]):
    spec, path = load_spec(write_pipeline(tmp_path, stages))
    return make_plan(spec, path, tmp_path / "run")


def test_graph_comes_from_the_files(tmp_path):
    for name in "abcd":
        toy_config(tmp_path, name)
    plan = plan_of(tmp_path, [toy_stage("d", reads=["b.h5", "c.h5"]), toy_stage("b", reads=["a.h5"]),
                              toy_stage("c", reads=["a.h5"]), toy_stage("a")])
    order = list(plan.stages)
    assert order.index("a") < order.index("b") < order.index("d") and order.index("c") < order.index("d")
    assert plan.stages["d"].upstream == ["b", "c"]
    assert plan.stages["d"].inputs == [str(tmp_path / "run" / "b" / "b.h5"), str(tmp_path / "run" / "c" / "c.h5")]
    assert sorted(plan.downstream("a")) == ["b", "c", "d"] and plan.downstream("c") == ["d"]
    argv = plan.stages["b"].argv
    assert argv[argv.index("--params") + 1].endswith("run/a/a.h5")


def test_cycle_is_named(tmp_path):
    for name in "abc":
        toy_config(tmp_path, name)
    cycle = r"cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c) \(each reads a file the next one writes"
    with pytest.raises(ConfigError, match=cycle):
        plan_of(tmp_path, [toy_stage("a", reads=["b.h5"]), toy_stage("b", reads=["c.h5"]),
                           toy_stage("c", reads=["a.h5"])])


def test_needed_parameter_nobody_provides(tmp_path):
    toy_config(tmp_path, "a")
    toy_config(tmp_path, "b")
    stages = [toy_stage("a"), toy_stage("b", reads=["a.h5"], needs=["surface_energy_110"])]
    with pytest.raises(ConfigError, match="stage 'b' needs 'surface_energy_110', which no upstream stage provides "
                                          r"\(a.h5 from stage 'a': ranks, x\)"):
        plan_of(tmp_path, stages)


def test_file_nobody_writes(tmp_path):
    toy_config(tmp_path, "b")
    with pytest.raises(ConfigError, match="reads 'li_metal.h5', which no stage writes"):
        plan_of(tmp_path, [toy_stage("b", reads=["li_metal.h5"])])


def test_unknown_sub_command_lists_the_known_ones(tmp_path):
    (tmp_path / "pipeline.toml").write_text('[[stage]]\nname = "x"\ncommand = "no-such-stage"\n')
    spec, path = load_spec(tmp_path / "pipeline.toml")
    with pytest.raises(ConfigError, match=r"'no-such-stage' is not a bda-hpc sub-command \(available: .*run"):
        make_plan(spec, path, tmp_path / "run")


def test_spec_key_errors_name_the_key(tmp_path):
    (tmp_path / "pipeline.toml").write_text('[[stage]]\nname = "x"\nscript = "s.py"\nrank = 2\n')
    with pytest.raises(ConfigError, match=r"stage\[0\]: unknown key 'rank'"):
        load_spec(tmp_path / "pipeline.toml")
    (tmp_path / "pipeline.toml").write_text('[[stage]]\nname = "x"\nscript = "s.py"\ntime = "soon"\n')
    with pytest.raises(ConfigError, match="time: 'soon' is not a wall time"):
        load_spec(tmp_path / "pipeline.toml")


def test_too_many_ranks(tmp_path):
    toy_config(tmp_path, "a")
    plan = plan_of(tmp_path, [toy_stage("a", ranks=3)])
    with pytest.raises(ConfigError, match=r"more ranks than this machine has \(2 cores\): 'a' asks for 3"):
        check_ranks(plan, 2, "this machine")


def test_sweep_cases():
    grid = SweepSpec(values={"toy.value": [1, 2], "toy.scale": [10, 20, 30]}, mode="grid")
    assert len(grid.cases()) == 6 and grid.cases()[1] == {"toy.value": 1, "toy.scale": 20}
    listed = SweepSpec(values={"toy.value": [1, 2], "toy.scale": [10, 20]}, mode="list")
    assert listed.cases() == [{"toy.value": 1, "toy.scale": 10}, {"toy.value": 2, "toy.scale": 20}]
    assert "equal length" in SweepSpec(values={"a.b": [1], "a.c": [1, 2]}, mode="list").validate()[0]


def test_set_overrides(tmp_path):
    from test_workflow_toystage import ToyConfig

    assert parse_set(["toy.value=2.5", 'toy.name="q"', "toy.fail=true", "a.b.c=[1, 2]", "m.kind=ridge"]) == {
        "toy": {"value": 2.5, "name": "q", "fail": True}, "a": {"b": {"c": [1, 2]}}, "m": {"kind": "ridge"}}
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text("[toy]\nvalue = 1.0\nscale = 3.0\n")
    cfg = load_section_with_set(cfg_file, "toy", ToyConfig, ["toy.value=4", "other.x=1"])
    assert (cfg.value, cfg.scale) == (4.0, 3.0)
    with pytest.raises(ConfigError, match=r"\+ --set:\[toy\]: unknown key 'valu'"):
        load_section_with_set(cfg_file, "toy", ToyConfig, ["toy.valu=4"])


def test_cli_errors_before_anything_runs(tmp_path):
    """Too many ranks and a missing sbatch: one message, exit 1, an earlier run directory untouched."""
    toy_config(tmp_path, "a")
    write_pipeline(tmp_path, [toy_stage("a", ranks=3)])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "resolved.json").write_text("earlier run")
    out = driver(["run", tmp_path / "pipeline.toml", "--run-dir", run_dir, "--cores", "2"])
    assert out.returncode == 1
    assert "more ranks than --cores has (2 cores): 'a' asks for 3" in out.stderr
    out = driver(["submit", tmp_path / "pipeline.toml", "--run-dir", run_dir, "--scheduler", "slurm"],
                 env_extra={"PATH": "/nonexistent", "OMPI_MCA_plm_rsh_agent": "/bin/false"})  # no ssh on PATH
    assert out.returncode == 1
    assert "sbatch, squeue, scontrol not found on PATH" in out.stderr
    assert (run_dir / "resolved.json").read_text() == "earlier run"
    assert sorted(p.name for p in run_dir.iterdir()) == [".driver.lock", "resolved.json"]
