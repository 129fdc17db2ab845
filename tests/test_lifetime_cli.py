"""Lifetime stage end to end: `bda-hpc lifetime` JSON/HDF5/plots, `lifetime predict`, cycler files, bad input."""
import json

import numpy as np
import pytest
from conftest import REPO, shared_data

from bda_hpc.cli import main
from bda_hpc.errors import InputError
from bda_hpc.io.params import read_params
from bda_hpc.lifetime import cycler, data


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory):
    shared_data("ageing", "severson_attia")
    out = tmp_path_factory.mktemp("lifetime")
    code = main(["lifetime", "--config", str(REPO / "examples/lifetime_severson.toml"),
                 "--set", "lifetime.model=elastic_net", "--set", "lifetime.params.alpha=0.001",
                 "--set", "lifetime.params.l1_ratio=0.5", "--out-dir", str(out / "run"),
                 "--json", str(out / "summary.json")])
    assert code == 0
    return out


def test_stage_writes_json_h5_plots_and_model(stage_run):
    summary = json.loads((stage_run / "summary.json").read_text())
    for key in ("rmse_cycles", "mape_percent"):
        assert set(summary[key]) == {"train", "test1", "test2"}
    assert set(summary["models"]) == {"baseline_mean", "baseline_log_var_dq", "elastic_net"}
    assert summary["models"]["elastic_net"]["params"] == {"alpha": 0.001, "l1_ratio": 0.5}
    # the stage's baseline must equal the published variance model (independent of the tested model)
    assert abs(summary["models"]["baseline_log_var_dq"]["rmse_cycles"]["test2"] - 196) < 2
    ps = read_params(stage_run / "run/lifetime.h5")
    assert ps.meta["stage"] == "lifetime"
    assert ps.require("cycle_life_rmse_test1", "1") == pytest.approx(summary["rmse_cycles"]["test1"])
    assert ps.parameters["cycle_life_cv_rmse"].uncertainty > 0     # spread over folds is recorded
    for png in ("cycle_life_parity.png", "cycle_life_importance.png"):
        assert (stage_run / "run" / png).stat().st_size > 10_000


def _test2_cells(n=3):
    return data.read_severson_split(shared_data("ageing", "severson_attia"), "test2")[:n]


def test_predict_on_a_converted_file_matches_the_stage(stage_run, capsys, tmp_path):
    cells = _test2_cells()
    path = cycler.write_cycler_h5(tmp_path / "cells.h5", cells)
    code = main(["lifetime", "predict", "--model", str(stage_run / "run/lifetime_model.pkl"),
                 "--data", str(path), "--json", str(tmp_path / "p.json")])
    assert code == 0
    got = [row["predicted_cycle_life"] for row in json.loads((tmp_path / "p.json").read_text())["cells"]]
    from bda_hpc.io.params import read_results

    expected = read_results(stage_run / "run/lifetime.h5", "cycle_life/test2/predicted_elastic_net")[:3]
    assert np.allclose(got, expected, rtol=1e-10)


def _expect_failure(args, capsys, *fragments):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err


def test_predict_rejects_gaps_short_records_and_foreign_grids(stage_run, capsys, tmp_path):
    model = str(stage_run / "run/lifetime_model.pkl")
    good = _test2_cells(1)[0]
    gap = data.Cell("gappy", np.delete(good.cycle, 48), np.delete(good.discharge_capacity, 48),
                    qv_voltage=good.qv_voltage, qv_cycle=good.qv_cycle, qv_capacity=good.qv_capacity)
    short = data.Cell("short", good.cycle[:59], good.discharge_capacity[:59], qv_voltage=good.qv_voltage,
                      qv_cycle=good.qv_cycle[:59], qv_capacity=good.qv_capacity[:59])
    coarse = data.Cell("coarse", good.cycle, good.discharge_capacity, qv_voltage=good.qv_voltage[::2],
                       qv_cycle=good.qv_cycle, qv_capacity=good.qv_capacity[:, ::2])
    previous = tmp_path / "p.json"
    previous.write_text("{}")
    for cell, fragments in ((gap, ["cell gappy", "cycle(s) 50 missing"]),
                            (short, ["cell short", "has cycles up to 60", "needs 100"]),
                            (coarse, ["cell coarse", "voltage grid (500 points", "differs from the model's (1000"])):
        path = cycler.write_cycler_h5(tmp_path / f"{cell.cell_id}.h5", [cell])
        _expect_failure(["lifetime", "predict", "--model", model, "--data", str(path), "--json", str(previous)],
                        capsys, *fragments)
        assert previous.read_text() == "{}"     # an earlier output is not damaged


def test_cycler_csv_converts_units_and_rejects_mismatches(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("cell,cycle,discharge_capacity [mAh],temperature [degC]\n"
                    "A1,1,1071,25\nA1,2,1069.5,25\nB7,1,1080,45\n")
    cells = cycler.read_cycler(path)
    assert [c.cell_id for c in cells] == ["A1", "B7"]
    assert np.allclose(cells[0].discharge_capacity, [1.071, 1.0695]) and cells[1].temperature_c == 45.0
    back = cycler.read_cycler(cycler.write_cycler_h5(tmp_path / "mine.h5", cells))
    assert np.array_equal(back[0].cycle, [1, 2]) and np.allclose(back[0].discharge_capacity, [1.071, 1.0695])
    path.write_text("cell,cycle,discharge_capacity [Wh]\nA1,1,4.0\n")
    with pytest.raises(InputError, match=r"discharge_capacity.*\[Wh\].*unit mismatch"):
        cycler.read_cycler(path)
    path.write_text("cell,cycle,discharge_capacity [Ah]\nA1,1,1.0\nA1,2,oops\n")
    with pytest.raises(InputError, match="row 3 \\(cell A1\\)"):
        cycler.read_cycler(path)


def test_cycler_csv_curves_must_share_one_grid(tmp_path):
    (tmp_path / "c.csv").write_text("cell,cycle,discharge_capacity [Ah]\nA1,1,1.0\nA1,2,1.0\n")
    (tmp_path / "c.qv.csv").write_text("cell,cycle,voltage [V],capacity [Ah]\n"
                                       "A1,1,3.6,0\nA1,1,2.0,1.0\nA1,2,3.6,0\nA1,2,2.1,1.0\n")
    with pytest.raises(InputError, match="cell A1: cycle 2 has a voltage grid different"):
        cycler.read_cycler(tmp_path / "c.csv")


def test_bad_config_key_is_one_clear_error(capsys, tmp_path):
    _expect_failure(["lifetime", "--config", str(REPO / "examples/lifetime_severson.toml"),
                     "--set", "lifetime.model=nosuchmodel", "--out-dir", str(tmp_path)],
                    capsys, "nosuchmodel", "is not one of the configured models")
