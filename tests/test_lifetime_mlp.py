"""The batched torch MLP: members trained together equal members trained alone, and its batched
cross-validation scores equal per-fold fits of the estimator the protocol refits."""
import numpy as np
import pytest

from bda_hpc.lifetime import protocol
from bda_hpc.lifetime.cyclelife import fold_indices, rmse
from bda_hpc.lifetime.mlp import apply_members, train_members
from bda_hpc.lifetime.models import build_model, predict

torch = pytest.importorskip("torch")


def _data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, 10 ** (2.8 + 0.25 * np.tanh(X[:, 0]) + 0.05 * X[:, 1])


def test_members_in_a_batch_train_as_if_alone():
    X, y = _data()
    masks = np.ones((4, len(y)), dtype=bool)
    masks[1, :10] = False                                     # members see different rows
    batch = apply_members(train_members(X, np.log10(y), masks, [3, 5, 7, 9], 8, 1e-2, 2e-2, 60), X)
    for m, seed in ((1, 5), (2, 7)):
        alone = apply_members(train_members(X, np.log10(y), masks[m:m + 1], [seed], 8, 1e-2, 2e-2, 60), X)[0]
        assert np.allclose(batch[m], alone, rtol=0, atol=1e-10)


def test_masked_rows_do_not_train_a_member():
    X, y = _data()
    masks = np.ones((2, len(y)), dtype=bool)
    masks[1, :5] = False
    y_changed = np.log10(y).copy()
    y_changed[:5] += 3.0                                      # only rows member 1 never sees
    a = apply_members(train_members(X, np.log10(y), masks, [1, 2], 8, 1e-2, 2e-2, 40), X)[1]
    b = apply_members(train_members(X, y_changed, masks, [1, 2], 8, 1e-2, 2e-2, 40), X)[1]
    assert np.allclose(a, b, atol=1e-12)


def test_mlp_learns_a_nonlinear_relation_better_than_a_line():
    X, y = _data(80, 1)
    train, held = np.arange(60), np.arange(60, 80)
    errors = {kind: rmse(predict(build_model(kind, {"epochs": 300} if kind == "mlp" else {}, 0)
                                 .fit(X[train], y[train]), X[held]), y[held]) for kind in ("mlp", "linear")}
    assert errors["mlp"] < 0.7 * errors["linear"], errors


def test_batched_cv_equals_per_fold_fits():
    X, y = _data(24, 2)
    cand = protocol.Candidate("discharge", "mlp", "log10", False, (("epochs", 40), ("weight_decay", 1e-2)))
    plain, clipped = protocol.cv_scores(cand, X, y, 3, 2, 0)
    ref = []
    for r in range(2):
        for held in fold_indices(len(y), 3, r):
            keep = np.setdiff1d(np.arange(len(y)), held)
            ref.append(rmse(predict(cand.build(0).fit(X[keep], y[keep]), X[held]), y[held]))
    assert np.allclose(plain, ref, rtol=1e-9) and np.all(clipped <= plain + 1e-9)
