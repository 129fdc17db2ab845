"""Cross-conformal forecast bands on cells drawn from the degradation law with known measurement noise."""
import numpy as np
import pytest

from bda_hpc.lifetime import calibration
from bda_hpc.lifetime.laws import CYCLE_SCALE, fit_law, law_drop

N_EARLY, LENGTH, SIGMA = 200, 1400, 0.002       # cycles observed, cycles measured, noise (Ah)


def synthetic_fleet(n_cells: int, seed: int):
    """Noisy and noiseless capacity of cells following Q0 − a√s − b(e^{s/τ} − 1), and their lives to 0.88 Ah."""
    rng = np.random.default_rng(seed)
    s = np.arange(1, LENGTH + 1) / CYCLE_SCALE
    a, b, tau = rng.uniform(0.02, 0.06, n_cells), rng.uniform(0.005, 0.03, n_cells), rng.uniform(0.25, 0.5, n_cells)
    truth = 1.08 - law_drop(s[None], a[:, None], b[:, None], tau[:, None])
    noisy = truth + SIGMA * rng.normal(size=truth.shape)
    below = truth < 0.88
    lives = np.where(below.any(1), below.argmax(1) + 1, np.inf).astype(float)
    return truth, noisy, lives


def _folds(n, k):
    return [np.arange(n)[i::k] for i in range(k)]


def test_perfect_forecast_band_is_the_noise_quantile():
    """Forecast = the noiseless law: the calibrated 90 % half-width must be the 90 % quantile of |N(0, σ)|,
    1.645 σ, and cover 90 % of held-out points."""
    truth, noisy, lives = synthetic_fleet(100, seed=1)
    folds = _folds(100, 5)
    cal = calibration.cross_conformal(noisy, lives, N_EARLY, folds, [truth[f] for f in folds],
                                      [np.zeros_like(truth[f]) for f in folds], quantile=0.9)
    for c in cal:
        scored = c["half_width"][:, N_EARLY:N_EARLY + 300]
        assert np.allclose(scored, 1.645 * SIGMA, rtol=0.12), scored.mean() / SIGMA
        assert c["coverage"] == pytest.approx(0.9, abs=0.03)


def test_overconfident_law_forecasts_are_recalibrated_on_held_out_cells():
    """Forecast = the law fitted to the first 200 noisy cycles, with an overconfident ensemble-like spread; the
    nominal ±1.645·std band undercovers, the cross-conformal band covers ~90 % of points of unseen cells."""
    truth, noisy, lives = synthetic_fleet(120, seed=2)
    cycles = np.arange(1, LENGTH + 1)
    mean = np.empty_like(noisy)
    for i in range(noisy.shape[0]):
        (q0, a, b, tau), _ = fit_law(cycles[:N_EARLY], noisy[i, :N_EARLY])
        mean[i] = q0 - law_drop(cycles / CYCLE_SCALE, a, b, tau)
    std = np.full_like(mean, 0.5 * SIGMA)
    folds = _folds(120, 6)
    cal = calibration.cross_conformal(noisy, lives, N_EARLY, folds, [mean[f] for f in folds], [std[f] for f in folds],
                                      quantile=0.9)
    nominal = np.mean([calibration.coverage(noisy[f], lives[f], N_EARLY, mean[f], 1.645 * std[f]) for f in folds])
    calibrated = np.array([c["coverage"] for c in cal])
    assert nominal < 0.6, nominal
    assert calibrated.mean() == pytest.approx(0.9, abs=0.04), calibrated
    assert calibrated.min() > 0.75, calibrated


def test_fit_scale_fills_empty_horizon_bins_from_nearer_ones():
    horizon = np.array([1, 50, 250])        # bins 0, 0, 2; bin 1 and 3 empty
    ratio = np.array([1.0, 2.0, 5.0])
    scale = calibration.fit_scale(horizon, ratio, 0.5, 4)
    assert list(scale) == [2.0, 2.0, 5.0, 5.0]


def test_worst_fold_rule_covers_a_group_that_pooling_undercovers():
    """Five groups (think temperatures), two of them twice as noisy. Held out, a noisy group is under-covered by
    the pooled quantile of the others (three quiet groups dilute it) but covered by the worst-fold rule, which
    takes the other noisy group's own quantile: 1.645 · 2σ."""
    truth, noisy, lives = synthetic_fleet(120, seed=3)
    folds = _folds(120, 5)
    for f in folds[3:]:
        noisy[f] = truth[f] + 2 * (noisy[f] - truth[f])
    args = (noisy, lives, N_EARLY, folds, [truth[f] for f in folds], [np.zeros_like(truth[f]) for f in folds], 0.9)
    pooled, worst = calibration.cross_conformal(*args), calibration.cross_conformal(*args, rule="worst_fold")
    for k in (3, 4):
        assert pooled[k]["coverage"] < 0.82, pooled[k]["coverage"]
        assert worst[k]["coverage"] == pytest.approx(0.9, abs=0.03)
        assert np.allclose(worst[k]["half_width"][:, N_EARLY:N_EARLY + 300], 1.645 * 2 * SIGMA, rtol=0.12)
    with pytest.raises(ValueError, match="rule"):
        calibration.cross_conformal(*args, rule="median")
