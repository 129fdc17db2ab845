"""The feature cache of sweep cases: same numbers as computing from the CSVs, a stale entry never read."""
import os
import shutil

import numpy as np
import pytest
from conftest import REPO, shared_data

from bda_hpc.cli import main
from bda_hpc.io.params import read_params
from bda_hpc.lifetime import data
from bda_hpc.lifetime.feature_cache import split_features

NAMES = ["log_var_dq", "log_min_dq", "q_first"]


def _small_split(tmp_path, cells=2):
    """A copy of the first training cells as a split of its own (file times can then be changed freely)."""
    src = shared_data("ageing", "severson_attia")
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "cycle_lives").mkdir()
    for k in range(1, cells + 1):
        shutil.copy(src / "train" / f"cell{k}.csv", root / "train" / f"cell{k}.csv")
    lives = (src / "cycle_lives/train_cycle_lives.csv").read_text().split()[:cells]
    (root / "cycle_lives/train_cycle_lives.csv").write_text("\n".join(lives) + "\n")
    return root


def test_cached_features_equal_computed_ones_and_a_hit_still_records_the_split(tmp_path):
    root, cache = _small_split(tmp_path), tmp_path / "cache"
    direct = split_features(root, "train", NAMES, 10, 100, 5, None)
    first = split_features(root, "train", NAMES, 10, 100, 5, cache)
    with data.record_reads() as reads:
        second = split_features(root, "train", NAMES, 10, 100, 5, cache)
    for a, b, c in zip(direct, first, second):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    assert len(list(cache.iterdir())) == 1
    assert sorted(os.path.basename(p) for p in reads) == ["cell1.csv", "cell2.csv"]


def test_changed_file_or_feature_set_is_a_new_entry(tmp_path):
    root, cache = _small_split(tmp_path), tmp_path / "cache"
    split_features(root, "train", NAMES, 10, 100, 0, cache)
    split_features(root, "train", NAMES[:2], 10, 100, 0, cache)              # another feature set
    stat = (root / "train/cell2.csv").stat()
    os.utime(root / "train/cell2.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    split_features(root, "train", NAMES, 10, 100, 0, cache)                  # the data changed
    assert len(list(cache.iterdir())) == 3


def test_sweep_case_with_cache_scores_as_without(tmp_path):
    """A cold (cache written) and a warm (cache read) sweep case both score what a direct CV of the CSV features
    scores, and both read the training split only."""
    from bda_hpc.lifetime.cyclelife import CycleLifeConfig, ModelSpec, cross_validate, spec_matrix

    train = data.read_severson_split(shared_data("ageing", "severson_attia"), "train")
    direct = cross_validate("elastic_net", {"alpha": 0.01, "l1_ratio": 0.5},
                            spec_matrix(train, ModelSpec("en", "elastic_net"), CycleLifeConfig()),
                            np.array([c.cycle_life for c in train]), 5, 0).mean()
    for run in ("cold", "warm"):
        with data.record_reads() as reads:
            assert main(["lifetime", "--config", str(REPO / "examples/lifetime_severson.toml"), "--set",
                         "lifetime.model=elastic_net", "--set", "lifetime.cv_only=true", "--set",
                         "lifetime.params.alpha=0.01", "--set", "lifetime.params.l1_ratio=0.5", "--set",
                         f"lifetime.feature_cache={tmp_path / 'cache'}", "--out-dir", str(tmp_path / run)]) == 0
        assert reads and all("/train/" in p for p in reads)
        score = read_params(tmp_path / run / "lifetime.h5").parameters["cycle_life_cv_rmse"].value
        assert score == pytest.approx(direct, rel=1e-12)
    assert len(list((tmp_path / "cache").iterdir())) == 2     # the model's features, the baselines' (shared)
