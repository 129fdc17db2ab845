"""Deep-ensemble MLP surrogates (torch): mean and spread of M independently initialised networks.

All members of one ensemble are trained at once as batched matrix products (``torch.baddbmm``), full
batch Adam with early stopping on a validation set (each member keeps its best weights). Inputs are
standardised with the training data's mean/std, outputs likewise; predictions come back in the
output's own units. The ensemble spread is the uncertainty: it is small where the data pin the
function down and grows away from them, which is how extrapolation is flagged (``assess``), together
with the distance of a query point outside the box spanned by the training inputs.

A raw ensemble spread is overconfident (members trained on the same data agree more than they are
right: session-1 verification errors were 7-10 spreads). ``calibrate`` therefore fits, on held-out
validation runs, sigma = sqrt((a * spread)^2 + b^2) by maximum Gaussian likelihood (variance scaling,
Kuleshov et al. 2018 / Levi et al. 2019, plus a floor b for the error the members share everywhere);
``fit`` does this on its validation data when it has enough of them, and ``predict`` returns the
calibrated sigma from then on (``raw=True`` gives the plain spread).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import minimize

from ..errors import InputError

log = logging.getLogger("bda_hpc.design")


@dataclass
class SurrogateSettings:
    members: int = 5
    hidden: list[int] = field(default_factory=lambda: [48, 48])  # widths of the hidden layers
    epochs: int = 1500
    learning_rate: float = 5e-3
    weight_decay: float = 1e-5
    patience: int = 150  # epochs without validation improvement before a member stops
    seed: int = 0
    # a query is flagged as an extrapolation when its spread exceeds this multiple of the largest
    # spread seen on the training inputs, or when it lies outside the training inputs' box
    spread_factor: float = 3.0
    # validation runs needed before the spread is calibrated on them (fewer: the raw spread is used)
    calibration_min: int = 5

    def validate(self) -> list[str]:
        problems = []
        if self.members < 2:
            problems.append(f"members: an ensemble needs at least 2, got {self.members}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            problems.append(f"hidden: need one or more positive widths, got {self.hidden}")
        for key in ("epochs", "patience"):
            if getattr(self, key) < 1:
                problems.append(f"{key}: must be at least 1, got {getattr(self, key)}")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate: must be positive, got {self.learning_rate}")
        return problems


class _BatchedMLP(torch.nn.Module):
    """M independent MLPs evaluated together: x (M, n, d) -> (M, n, 1)."""

    def __init__(self, members: int, widths: list[int], generator: torch.Generator):
        super().__init__()
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            bound = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot, drawn per member
            w = (torch.rand(members, fan_in, fan_out, generator=generator, dtype=torch.float32) * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(torch.zeros(members, 1, fan_out, dtype=torch.float32)))

    def forward(self, x):
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if k < len(self.weights) - 1:
                x = torch.tanh(x)
        return x


class EnsembleSurrogate:
    """One scalar output: ``fit(X, y, X_val, y_val)``, ``predict(X) -> (mean, std)``, ``assess(X)``."""

    def __init__(self, settings: SurrogateSettings | None = None):
        self.settings = settings or SurrogateSettings()
        problems = self.settings.validate()
        if problems:
            raise InputError("surrogate settings: " + "; ".join(problems))
        self.model = None
        self.calibration = (1.0, 0.0)  # (a, b) of sigma = sqrt((a spread)^2 + b^2); identity until calibrated

    def fit(self, X, y, X_val=None, y_val=None, *, warm_start: bool = False, epochs: int | None = None):
        """Train on (X, y); validation data drive early stopping (without them, the last epoch is kept).

        ``warm_start`` continues from the current weights and scaling (used for constant-liar batches)."""
        s = self.settings
        X, y = np.asarray(X, float), np.asarray(y, float).ravel()
        if X.ndim != 2 or len(X) != len(y) or len(y) < 2:
            raise InputError(f"surrogate fit: need X (n, d) and y (n,) with n >= 2, got {X.shape} and {y.shape}")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise InputError("surrogate fit: non-finite training data (drop failed runs first)")
        if not warm_start or self.model is None:
            self.x_mean, self.x_std = X.mean(0), np.where(X.std(0) > 0, X.std(0), 1.0)
            self.y_mean, self.y_std = y.mean(), (y.std() if y.std() > 0 else 1.0)
            gen = torch.Generator().manual_seed(s.seed)
            self.model = _BatchedMLP(s.members, [X.shape[1], *s.hidden, 1], gen)
        self.lower, self.upper = X.min(0), X.max(0)
        xt, yt = self._tensor_x(X), self._tensor_y(y)
        has_val = X_val is not None and len(X_val) > 0
        xv, yv = (self._tensor_x(X_val), self._tensor_y(y_val)) if has_val else (xt, yt)
        opt = torch.optim.Adam(self.model.parameters(), lr=s.learning_rate, weight_decay=s.weight_decay)
        best = torch.full((s.members,), float("inf"))
        best_state = [p.detach().clone() for p in self.model.parameters()]
        stale = torch.zeros(s.members, dtype=torch.long)
        n_epochs = epochs or s.epochs
        for epoch in range(n_epochs):
            opt.zero_grad()
            loss = ((self.model(xt) - yt) ** 2).mean(dim=(1, 2))
            loss.sum().backward()  # members are independent: the sum's gradient is each member's own
            opt.step()
            if epoch % 10 and epoch != n_epochs - 1:
                continue  # validate every 10th epoch: the bookkeeping costs as much as a step
            with torch.no_grad():
                val = ((self.model(xv) - yv) ** 2).mean(dim=(1, 2))
                better = val < best
                best = torch.where(better, val, best)
                stale = torch.where(better, torch.zeros_like(stale), stale + 10)
                for keep, p in zip(best_state, self.model.parameters()):
                    keep[better] = p.detach()[better]
            if has_val and bool((stale > s.patience).all()):
                break
        with torch.no_grad():
            for keep, p in zip(best_state, self.model.parameters()):
                p.copy_(keep)
        self.epochs_run = epoch + 1
        if not warm_start and has_val and len(y_val) >= s.calibration_min:
            self.calibrate(X_val, y_val)
        self.train_spread = float(self.predict(X, raw=True)[1].max())
        return self

    def calibrate(self, X, y) -> tuple[float, float]:
        """Fit (a, b) of sigma = sqrt((a spread)^2 + b^2) to held-out (X, y) by Gaussian likelihood."""
        mean, spread = self.predict(X, raw=True)
        r2 = (np.asarray(y, float).ravel() - mean) ** 2
        spread2 = np.maximum(spread, 1e-12 * self.y_std) ** 2

        def nll(p):  # log-parameters keep a, b positive; the scale of b is the output's spread
            var = np.exp(2 * p[0]) * spread2 + (np.exp(p[1]) * self.y_std) ** 2
            return 0.5 * np.sum(np.log(var) + r2 / var)

        a0 = np.sqrt(np.mean(r2 / spread2))
        best = minimize(nll, [np.log(max(a0, 1e-6)), np.log(1e-3)], method="Nelder-Mead",
                        options={"xatol": 1e-4, "fatol": 1e-8, "maxiter": 2000})
        self.calibration = (float(np.exp(best.x[0])), float(np.exp(best.x[1]) * self.y_std))
        return self.calibration

    def _tensor_x(self, X):
        z = (np.asarray(X, float) - self.x_mean) / self.x_std
        z = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
        return z.unsqueeze(0).expand(self.settings.members, -1, -1)

    def _tensor_y(self, y):
        z = (np.asarray(y, float).ravel() - self.y_mean) / self.y_std
        return torch.from_numpy(z.astype(np.float32)).reshape(1, -1, 1).expand(self.settings.members, -1, -1)

    def members_predict(self, X) -> np.ndarray:
        """(members, n) predictions in output units."""
        if self.model is None:
            raise InputError("surrogate: predict called before fit")
        with torch.no_grad():
            z = self.model(self._tensor_x(np.atleast_2d(X)))[:, :, 0].numpy()
        return z.astype(float) * self.y_std + self.y_mean

    def predict(self, X, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(mean, sigma): sigma is the calibrated uncertainty, or with ``raw`` the members' spread."""
        p = self.members_predict(X)
        spread = p.std(0, ddof=1)
        if raw:
            return p.mean(0), spread
        a, b = self.calibration
        return p.mean(0), np.sqrt((a * spread) ** 2 + b ** 2)

    def assess(self, X) -> dict:
        """Mean, calibrated sigma and extrapolation flags: outside the training box (distance in units
        of the box size, 0 inside) or members' spread above ``spread_factor`` x its largest value on the
        training data. The flag compares spreads, not sigmas: the calibration's scale cancels in the
        ratio, and its floor (the error shared everywhere) does not grow away from the data."""
        X = np.atleast_2d(np.asarray(X, float))
        mean, std = self.predict(X)
        spread = self.predict(X, raw=True)[1]
        size = np.where(self.upper > self.lower, self.upper - self.lower, 1.0)
        outside = np.maximum(self.lower - X, 0) + np.maximum(X - self.upper, 0)
        distance = (outside / size).max(axis=1)
        uncertain = spread > self.settings.spread_factor * max(self.train_spread, 1e-12 * abs(self.y_std))
        return {"mean": mean, "std": std, "outside_distance": distance,
                "extrapolating": (distance > 0) | uncertain}


def r2_score(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ss_res = np.sum((y_true - y_pred) ** 2)
    ss_tot = np.sum((y_true - y_true.mean()) ** 2)
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


def mae(y_true, y_pred) -> float:
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def split_indices(n: int, fractions=(0.7, 0.15, 0.15), seed: int = 0):
    """Random train / validation / test index arrays (every part non-empty when n >= 3)."""
    if n < 3:
        raise InputError(f"need at least 3 successful runs to split into train/validation/test, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fractions[1] * n)))
    n_test = max(1, int(round(fractions[2] * n)))
    n_train = n - n_val - n_test
    if n_train < 2:
        raise InputError(f"{n} runs leave fewer than 2 for training after the validation/test split")
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


def learning_curve(X, y, settings: SurrogateSettings, sizes, seed: int = 0) -> list[dict]:
    """Test R^2 / MAE against the number of training runs, on one fixed held-out test set.

    The test set is the same 15 % for every size; each size trains on the first ``n`` of the remaining
    runs (85 % of them for fitting, 15 % for early stopping)."""
    train, val, test = split_indices(len(y), seed=seed)
    pool = np.concatenate([train, val])
    rows = []
    for n in sizes:
        if n > len(pool) or n < 4:
            continue
        part = pool[:n]
        n_val = max(1, int(round(0.15 * n)))
        sur = EnsembleSurrogate(settings).fit(X[part[n_val:]], y[part[n_val:]], X[part[:n_val]], y[part[:n_val]])
        pred = sur.predict(X[test])[0]
        rows.append({"n_train": int(n), "r2": r2_score(y[test], pred), "mae": mae(y[test], pred)})
    return rows
