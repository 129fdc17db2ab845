"""A small torch MLP for cycle life, trained as many independent members in one batched network.

Each member is a one-hidden-layer tanh network with its own weights, its own training rows (a 0/1 mask)
and its own input and target standardisation. Training them together is exact -- the loss is a sum of
per-member losses, so gradients and Adam's per-element moments never mix members -- and it makes a
whole repeated cross-validation (folds x repeats x seeds members) cost about one network's training:
on 41 cells torch's per-operation overhead, not arithmetic, dominates a fit.

The number of epochs is the model's early stopping: the selection protocol chooses it, with the weight
decay, by its cross-validation on held-out training cells (see :mod:`protocol`).
"""
from __future__ import annotations

import numpy as np


def train_members(X: np.ndarray, y: np.ndarray, masks: np.ndarray, seeds, hidden: int, weight_decay: float,
                  lr: float, epochs: int) -> dict:
    """The members' state (weights and standardisations, NumPy) after ``epochs`` full-batch Adam steps;
    member m is trained on ``X[masks[m]]``, ``y[masks[m]]``.

    ``masks``: (members, rows) booleans; ``seeds``: one initialisation seed per member; ``y`` is the
    learnt target as given (already on the model's scale)."""
    import torch

    masks = np.asarray(masks, dtype=bool)
    members, rows = masks.shape
    if len(seeds) != members:
        raise ValueError(f"{members} masks but {len(seeds)} seeds")
    X = torch.as_tensor(np.asarray(X, dtype=float))
    y = torch.as_tensor(np.asarray(y, dtype=float))
    w = torch.as_tensor(masks, dtype=torch.float64)                          # (M, n)
    count = w.sum(1, keepdim=True)
    x_mean = (w @ X) / count                                                  # (M, p) training-row statistics
    x_std = torch.sqrt((w @ X ** 2) / count - x_mean ** 2).clamp_min(1e-12)
    y_mean = (w @ y[:, None]) / count                                         # (M, 1)
    y_std = torch.sqrt((w @ y[:, None] ** 2) / count - y_mean ** 2).clamp_min(1e-12)
    Xs = (X[None] - x_mean[:, None]) / x_std[:, None]                         # (M, n, p)
    target = (y[None] - y_mean) / y_std                                       # (M, n)
    params = [_init(seed, X.shape[1], hidden) for seed in seeds]
    W1, b1, W2, b2 = (torch.stack([p[k] for p in params]).requires_grad_() for k in range(4))
    opt = torch.optim.Adam([W1, b1, W2, b2], lr=lr, weight_decay=weight_decay)

    scales = {"x_mean": x_mean, "x_std": x_std, "y_mean": y_mean, "y_std": y_std}
    for _ in range(int(epochs)):
        opt.zero_grad()
        loss = (((_forward(Xs, W1, b1, W2, b2) - target) ** 2 * w).sum(1) / count[:, 0]).sum()
        loss.backward()
        opt.step()
    weights = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    return {k: v.detach().numpy().copy() for k, v in {**weights, **scales}.items()}


def apply_members(state: dict, X: np.ndarray) -> np.ndarray:
    """Predictions (members, rows) of the members in ``state`` (from :func:`train_members`)."""
    import torch

    t = {k: torch.as_tensor(v) for k, v in state.items()}
    Xs = (torch.as_tensor(np.asarray(X, dtype=float))[None] - t["x_mean"][:, None]) / t["x_std"][:, None]
    with torch.no_grad():
        return (_forward(Xs, t["W1"], t["b1"], t["W2"], t["b2"]) * t["y_std"] + t["y_mean"]).numpy()


def _forward(Xs, W1, b1, W2, b2):
    import torch

    return (torch.tanh(Xs @ W1 + b1[:, None]) @ W2)[..., 0] + b2[:, None]      # (M, n)


def _init(seed: int, n_in: int, hidden: int):
    """torch.nn.Linear's default initialisation, U(±1/sqrt(fan_in)), from a per-member seed."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))

    def uniform(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound

    return uniform((n_in, hidden), n_in), uniform((hidden,), n_in), uniform((hidden, 1), hidden), uniform((), hidden)
