"""Regressors behind one scikit-learn interface: ``build_model(kind, params, seed)``.

Every model but the ``mean`` baseline standardises its inputs and learns
log10(cycle life) by default (lives span a decade; errors are roughly
proportional); ``target="cycles"`` learns cycle life itself (a choice the
selection protocol makes by cross-validation).
The torch MLP is a small scikit-learn compatible estimator so that the same
pipelines, cross-validation and pickling work for all of them.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import ConfigError

TARGETS = ("log10", "cycles")
KINDS = ("mean", "linear", "elastic_net", "pls", "gbt", "mlp")
DEFAULTS = {
    "mean": {},
    "linear": {},
    "elastic_net": {"alpha": 1e-3, "l1_ratio": 0.5},
    "pls": {"n_components": 2},
    "gbt": {"n_estimators": 300, "max_depth": 2, "learning_rate": 0.05, "subsample": 0.8},
    "mlp": {"hidden": 16, "weight_decay": 1e-2, "epochs": 400, "lr": 2e-2, "members": 5},
}


class TorchMLP(RegressorMixin, BaseEstimator):
    """One-hidden-layer tanh network, full-batch Adam with weight decay, averaged over ``members`` seeds
    (small data: one initialisation alone is noisy). Trained by :func:`mlp.train_members`."""

    def __init__(self, hidden=16, weight_decay=1e-2, epochs=400, lr=2e-2, members=5, seed=0):
        self.hidden = hidden
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.lr = lr
        self.members = members
        self.seed = seed

    def fit(self, X, y):
        from .mlp import train_members

        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float).ravel()
        masks = np.ones((int(self.members), len(y)), dtype=bool)
        self.state_ = train_members(X, y, masks, member_seeds(self.seed, int(self.members)), int(self.hidden),
                                    self.weight_decay, self.lr, int(self.epochs))
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        from .mlp import apply_members

        return apply_members(self.state_, X).mean(axis=0)


def member_seeds(seed: int, members: int) -> list[int]:
    return [1000 * int(seed) + k for k in range(members)]


class ClipToTrainingRange(RegressorMixin, BaseEstimator):
    """Predictions limited to the range of training targets: a log-target model extrapolates
    exponentially, and one cell beyond the training range can otherwise dominate a test RMSE."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        self.estimator.fit(X, y)
        self.low_, self.high_ = float(np.min(y)), float(np.max(y))
        return self

    def predict(self, X):
        return np.clip(np.asarray(self.estimator.predict(X), dtype=float).ravel(), self.low_, self.high_)


def _core(kind: str, params: dict, seed: int):
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import ElasticNet, LinearRegression

    if kind == "linear":
        return LinearRegression()
    if kind == "elastic_net":
        return ElasticNet(alpha=params["alpha"], l1_ratio=params["l1_ratio"], max_iter=200000)
    if kind == "pls":
        return PLSRegression(n_components=int(params["n_components"]))
    if kind == "gbt":
        return GradientBoostingRegressor(n_estimators=int(params["n_estimators"]), max_depth=int(params["max_depth"]),
                                         learning_rate=params["learning_rate"], subsample=params["subsample"],
                                         random_state=seed)
    return TorchMLP(hidden=int(params["hidden"]), weight_decay=params["weight_decay"], epochs=int(params["epochs"]),
                    lr=params["lr"], members=int(params["members"]), seed=seed)


def model_params(kind: str, params: dict | None = None) -> dict:
    """Defaults of ``kind`` updated with ``params``; unknown kinds or keys are ConfigErrors."""
    if kind not in KINDS:
        raise ConfigError(f"model kind {kind!r} unknown (use one of {', '.join(KINDS)})")
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULTS[kind]))
    if unknown:
        raise ConfigError(f"model {kind!r}: unknown hyper-parameter(s) {', '.join(unknown)} "
                          f"(allowed: {', '.join(DEFAULTS[kind]) or 'none'})")
    return {**DEFAULTS[kind], **params}


def build_model(kind: str, params: dict | None = None, seed: int = 0, clip: bool = False, target: str = "log10"):
    """An unfitted estimator for cycle life (cycles) from a feature matrix (``clip``: see ClipToTrainingRange;
    ``target``: the scale the regressor learns, "log10" of cycle life or "cycles")."""
    params = model_params(kind, params)
    if target not in TARGETS:
        raise ConfigError(f"target {target!r} unknown (use one of {', '.join(TARGETS)})")
    if kind == "mean":
        return DummyRegressor(strategy="mean")
    model = make_pipeline(StandardScaler(), _core(kind, params, seed))
    if target == "log10":
        model = TransformedTargetRegressor(regressor=model, func=np.log10, inverse_func=_exp10, check_inverse=False)
    return ClipToTrainingRange(model) if clip else model


def _exp10(z):
    return 10.0 ** z


def predict(model, X) -> np.ndarray:
    return np.asarray(model.predict(X), dtype=float).ravel()


def importances(model, n_features: int) -> np.ndarray | None:
    """Feature importance where the model has one (|standardised coefficient| or impurity decrease)."""
    model = getattr(model, "estimator", model)
    core = getattr(model, "regressor_", model)
    if not hasattr(core, "steps"):
        return None
    last = core[-1]
    if hasattr(last, "feature_importances_"):
        return np.asarray(last.feature_importances_, dtype=float)
    coef = getattr(last, "coef_", None)
    if coef is not None:
        coef = np.abs(np.asarray(coef, dtype=float)).ravel()
        return coef[:n_features] if coef.size >= n_features else None
    return None
