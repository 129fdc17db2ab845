"""The train-only selection protocol for cycle life: what it reads, what it picks, what the stage reports."""
import json

import numpy as np
import pytest
from conftest import shared_data

from bda_hpc.cli import main
from bda_hpc.errors import ConfigError
from bda_hpc.lifetime import data, protocol
from bda_hpc.lifetime.stage import load_config

SMALL = dict(enabled=True, folds=3, repeats=2, feature_sets=["variance", "discharge"],
             families=["linear", "pls"], targets=["log10", "cycles"])


@pytest.fixture(scope="module")
def small_selection():
    root = shared_data("ageing", "severson_attia")
    with data.record_reads() as reads:
        sel = protocol.select(protocol.SelectionConfig(**SMALL), root, seed=3)
    return root, sel, reads


def test_selection_reads_only_train_and_evaluation_reads_tests_afterwards(small_selection):
    root, sel, reads = small_selection
    assert len(reads) == 41 and all("/train/" in p for p in reads), sorted(set(reads))[:3]
    with data.record_reads() as later:
        result = protocol.evaluate_selection(sel, root)
    assert sum("/test1/" in p for p in later) == 43 and sum("/test2/" in p for p in later) == 40
    assert {"chosen", "baseline_mean", "baseline_log_var_dq", "best_linear", "best_pls"} == set(result["rows"])
    assert result["fold_seeds"] == [3, 4]
    # the published variance model is one of the rows, unchanged by the protocol (Severson et al.: 138 / 196)
    assert result["rows"]["baseline_log_var_dq"]["rmse_cycles"]["test1"] == pytest.approx(138, abs=2)
    # test1 without an extreme cell has one cell fewer: the figures are recomputed, not copied
    chosen = result["rows"]["chosen"]["rmse_cycles"]
    assert chosen["test1_without_longest"] != chosen["test1"] != chosen["test1_published"]
    assert sorted(result["observed"]["test1"])[0] == 148        # the published set drops the 148-cycle cell


def test_selection_chooses_the_lowest_repeated_cv_score(small_selection):
    _, sel, _ = small_selection
    best = min(sel.table, key=lambda row: row["cv_rmse"])
    assert sel.chosen.name == best["name"]
    # every (set, family, target, params) is scored with and without clipping; PLS never beyond its features
    names = {row["name"] for row in sel.table}
    assert "pls[n_components=2]/variance/log10" not in names and "linear[]/discharge/cycles/clip" in names
    assert len(sel.table) == 2 * (2 * 2 + 2 * (1 + 5))
    assert all(row["cv_rmse_std"] > 0 for row in sel.table)    # spread over 3 folds x 2 repeats is recorded


def test_cv_prefers_the_target_scale_of_the_truth():
    """A relation linear in log10(life) is learnt better on the log10 scale, one linear in life on the cycles
    scale: the protocol's target choice can tell them apart."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    for truth, expected in ((10 ** (2.9 + 0.3 * X[:, 0]), "log10"), (900 + 350 * X[:, 0], "cycles")):
        y = truth * (1 + 0.02 * rng.normal(size=60))
        scores = {t: protocol.cv_scores(protocol.Candidate("variance", "linear", t, False), X, y, 5, 2, 0)[0].mean()
                  for t in ("log10", "cycles")}
        assert min(scores, key=scores.get) == expected, scores


def test_clipped_scores_come_from_the_same_fits():
    """An exact log-linear relation: unclipped folds score ~0; clipping costs exactly the distance of the held-out
    lives to the range of that fold's training lives (so only folds holding an extreme cell lose)."""
    from bda_hpc.lifetime.cyclelife import fold_indices, rmse

    X = np.linspace(0, 1, 30)[:, None]
    y = 10 ** (2.5 + X[:, 0])
    plain, clipped = protocol.cv_scores(protocol.Candidate("variance", "linear", "log10", False), X, y, 3, 1, 0)
    assert np.allclose(plain, 0, atol=1e-6)
    folds = fold_indices(30, 3, 0)
    expected = [rmse(np.clip(y[h], np.delete(y, h).min(), np.delete(y, h).max()), y[h]) for h in folds]
    assert np.allclose(clipped, expected, atol=1e-6)
    assert [e > 0 for e in expected] == [bool({0, 29} & set(h)) for h in folds]


def test_bad_selection_config_names_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[lifetime]\ntask = "cycle_life"\n[lifetime.selection]\nenabled = true\nfamilies = ["svm"]\n')
    with pytest.raises(ConfigError, match="families"):
        load_config(str(cfg))


def test_stage_reports_the_selection_as_the_headline(tmp_path):
    root = shared_data("ageing", "severson_attia")
    cfg = tmp_path / "sel.toml"
    cfg.write_text(f'[lifetime]\ntask = "cycle_life"\ndata_dir = "{root}"\n[lifetime.selection]\n'
                   + "\n".join(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}"
                               for k, v in SMALL.items()) + "\n")
    assert main(["lifetime", "--config", str(cfg), "--out-dir", str(tmp_path / "run"),
                 "--json", str(tmp_path / "s.json")]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    chosen = summary["selection"]["rows"]["chosen"]
    assert summary["best_model"] == f"selection: {chosen['candidate']}"
    assert summary["rmse_cycles"] == {s: chosen["rmse_cycles"][s] for s in ("train", "test1", "test2")}
    assert (tmp_path / "run/cycle_life_selection_parity.png").stat().st_size > 10_000
    # the saved model is the chosen candidate and predicts what the stage reported
    assert main(["lifetime", "predict", "--model", str(tmp_path / "run/lifetime_model.pkl"),
                 "--data", str(root / "test2"), "--json", str(tmp_path / "p.json")]) == 0
    pred = np.array([r["predicted_cycle_life"] for r in json.loads((tmp_path / "p.json").read_text())["cells"]])
    obs = np.array([r["observed_cycle_life"] for r in json.loads((tmp_path / "p.json").read_text())["cells"]])
    assert np.sqrt(np.mean((pred - obs) ** 2)) == pytest.approx(chosen["rmse_cycles"]["test2"], rel=1e-9)


def test_sweep_case_scores_on_train_only(tmp_path):
    """A driver-sweep case (cv_only) reads the 41 training cells and writes the same CV score as a direct
    cross-validation of that configuration."""
    from conftest import REPO

    from bda_hpc.io.params import read_params
    from bda_hpc.lifetime.cyclelife import CycleLifeConfig, ModelSpec, cross_validate, spec_matrix

    root = shared_data("ageing", "severson_attia")
    with data.record_reads() as reads:
        assert main(["lifetime", "--config", str(REPO / "examples/lifetime_severson.toml"), "--set",
                     "lifetime.model=elastic_net", "--set", "lifetime.cv_only=true",
                     "--set", "lifetime.params.alpha=0.01",
                     "--set", "lifetime.params.l1_ratio=0.5", "--out-dir", str(tmp_path)]) == 0
    assert reads and all("/train/" in p for p in reads)
    train = data.read_severson_split(root, "train")
    X = spec_matrix(train, ModelSpec("en", "elastic_net"), CycleLifeConfig())
    direct = cross_validate("elastic_net", {"alpha": 0.01, "l1_ratio": 0.5}, X,
                            np.array([c.cycle_life for c in train]), 5, 0)
    score = read_params(tmp_path / "lifetime.h5").parameters["cycle_life_cv_rmse"]
    assert score.value == pytest.approx(direct.mean(), rel=1e-12) and score.uncertainty == pytest.approx(direct.std())


def test_protocol_v2_chooses_among_clipped_candidates_and_reports_v1_and_the_published_model():
    root = shared_data("ageing", "severson_attia")
    cfg = protocol.SelectionConfig(enabled=True, folds=3, repeats=1, feature_sets=["discharge"],
                                   families=["pls", "elastic_net"], targets=["log10"], clip="always")
    sel = protocol.select(cfg, root, seed=0)
    clipped = [row for row in sel.table if row["clip"]]
    assert sel.chosen.clip and sel.chosen.name == min(clipped, key=lambda r: r["cv_rmse"])["name"]
    assert all(c.clip for c in sel.family_best.values())
    assert sel.reference["lowest_cv_any"].name == min(sel.table, key=lambda r: r["cv_rmse"])["name"]
    published = [r for r in sel.table if r["family"] == "elastic_net" and not r["clip"]]
    assert sel.reference["published_discharge"].name == min(published, key=lambda r: r["cv_rmse"])["name"]
    rows = protocol.evaluate_selection(sel, root)["rows"]
    assert {"chosen", "lowest_cv_any", "published_discharge"} <= set(rows)
    assert max(np.max(p) for p in protocol.evaluate_selection(sel, root)["predictions"]["chosen"].values()) <= 2160
