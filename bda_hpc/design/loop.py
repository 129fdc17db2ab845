"""The inverse-design loop: initial space-filling sample -> fit surrogates -> propose a batch ->
simulate -> refit, to a budget of simulations, checkpointed after every batch; then the surrogate's
optimum is re-simulated and the answer is the best *simulated* feasible run.

Batches use the constant liar (Ginsbourger et al. 2010): after choosing a point, the objective model
is told that the point scored the current best (a lie that removes the incentive to pick the same
spot again) and the constraint models are told their own mean (Kriging believer); a short warm-start
refit follows and the next point is chosen. Every proposed point's prediction (before the lies) is
stored next to its simulated value.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .acquisition import candidates, expected_improvement, probability_feasible
from .dataset import Dataset
from .problems import Problem
from .runs import RunTable
from .space import DesignSpace
from .surrogate import EnsembleSurrogate, SurrogateSettings

log = logging.getLogger("bda_hpc.design")


@dataclass
class LoopSettings:
    budget: int = 40  # simulations in all: initial sample + batches + the optimum's verification run
    initial: int = 16
    batch: int = 4
    sampling: str = "lhs"
    seed: int = 0
    liar_epochs: int = 150  # warm-start epochs after each lie
    candidates: int = 2048
    min_feasibility: float = 0.9  # the proposed optimum must be feasible with this probability

    def validate(self) -> list[str]:
        problems = []
        if self.initial < 4:
            problems.append(f"initial: need at least 4 runs to fit a surrogate, got {self.initial}")
        if self.batch < 1:
            problems.append(f"batch: must be at least 1, got {self.batch}")
        if self.budget < self.initial + 1:
            problems.append(f"budget: must exceed initial ({self.initial}) by at least the verification run, "
                            f"got {self.budget}")
        if not 0 < self.min_feasibility < 1:
            problems.append(f"min_feasibility: must lie in (0, 1), got {self.min_feasibility}")
        return problems


class DesignLoop:
    def __init__(self, problem: Problem, space: DesignSpace, evaluator, settings: LoopSettings,
                 surrogate: SurrogateSettings | None = None, checkpoint: Path | None = None):
        problems = settings.validate()
        if problems:
            raise InputError("design loop settings: " + "; ".join(problems))
        self.problem, self.space, self.evaluator = problem, space, evaluator
        self.settings, self.surrogate_settings = settings, surrogate or SurrogateSettings()
        self.runs = RunTable(problem, space, evaluator, checkpoint)
        self.modelled = [problem.objective] + [c.output for c in problem.constraints if c.output != problem.objective]
        self.sign = -1.0 if problem.sense == "max" else 1.0  # internal minimisation of sign * objective

    @property
    def data(self) -> Dataset:
        return self.runs.data

    def simulate(self, X: np.ndarray, origin: str, predictions: list[dict] | None = None):
        self.runs.simulate(X, origin, predictions)

    # ---- surrogates -------------------------------------------------------------------------------
    def fit(self, seed: int) -> dict[str, EnsembleSurrogate]:
        ok = self.data.ok
        if ok.sum() < 4:
            raise InputError(f"only {int(ok.sum())} of {len(self.data)} simulations succeeded; "
                             "need 4 to fit a surrogate (see the failure messages above)")
        U = self.space.to_unit(self.data.X[ok])
        order = np.random.default_rng(seed).permutation(len(U))
        n_val = max(1, int(round(0.15 * len(U))))
        val, train = order[:n_val], order[n_val:]
        models = {}
        for name in self.modelled:
            y = self.data.column(name)[ok]
            extra_U, extra_y = self.imputed_failures(name)
            settings = copy.copy(self.surrogate_settings)
            settings.seed = self.surrogate_settings.seed + seed
            models[name] = EnsembleSurrogate(settings).fit(np.vstack([U[train], extra_U]),
                                                           np.append(y[train], extra_y), U[val], y[val])
        return models

    def imputed_failures(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Failed runs as training data for a constraint model, at the worst value seen: the probability
        of feasibility then steers the search away from where the simulator fails."""
        ok = self.data.ok
        constraint = next((c for c in self.problem.constraints if c.output == name), None)
        if constraint is None or name == self.problem.objective or ok.all():
            return np.empty((0, self.space.dim)), np.empty(0)
        y = self.data.column(name)[ok]
        worst = y.min() if constraint.lower is not None else y.max()
        return self.space.to_unit(self.data.X[~ok]), np.full(int((~ok).sum()), worst)

    def _predict(self, models, U):
        pred = {n: m.predict(U) for n, m in models.items()}
        return {n: p[0] for n, p in pred.items()}, {n: p[1] for n, p in pred.items()}

    def _best_feasible(self):
        """(internal objective value, row) of the best feasible simulated run, or (None, None)."""
        feas = self.problem.feasible(self.data.Y, self.data.output_names)
        if not feas.any():
            return None, None
        f = self.sign * self.data.column(self.problem.objective)
        row = int(np.flatnonzero(feas)[np.argmin(f[feas])])
        return float(f[row]), row

    def propose(self, models, n: int, iteration: int) -> tuple[np.ndarray, list[dict]]:
        """n new points (physical units) by constrained EI with constant-liar batches."""
        best, best_row = self._best_feasible()
        ok = self.data.ok
        U_data = self.space.to_unit(self.data.X)
        centres = U_data[[best_row]] if best_row is not None else U_data[ok][:1]
        C = candidates(self.space.dim, centres, n_global=self.settings.candidates, seed=iteration)
        before = copy.deepcopy(models)
        fit_data = {k: (np.vstack([U_data[ok], self.imputed_failures(k)[0]]),
                        np.append(self.data.column(k)[ok], self.imputed_failures(k)[1])) for k in self.modelled}
        chosen = []
        for _ in range(n):
            mean, std = self._predict(models, C)
            pof = probability_feasible(mean, std, self.problem.constraints)
            acq = pof if best is None else expected_improvement(self.sign * mean[self.problem.objective],
                                                               std[self.problem.objective], best) * pof
            taken = np.vstack([U_data] + [C[[i]] for i in chosen])
            too_close = np.min(np.linalg.norm(C[:, None, :] - taken[None, :, :], axis=2), axis=1) < 1e-3
            acq = np.where(too_close, -np.inf, acq)
            i = int(np.argmax(acq))
            chosen.append(i)
            if len(chosen) == n:
                break
            for k, m in models.items():
                lie = (self.sign * best if best is not None else mean[k][i]) if k == self.problem.objective \
                    else mean[k][i]
                fit_data[k] = (np.vstack([fit_data[k][0], C[[i]]]), np.append(fit_data[k][1], lie))
                m.fit(*fit_data[k], warm_start=True, epochs=self.settings.liar_epochs)
        U_new = C[chosen]
        m0, s0 = self._predict(before, U_new)
        preds = [{k: (float(m0[k][j]), float(s0[k][j])) for k in self.modelled} for j in range(len(chosen))]
        return self.space.from_unit(U_new), preds

    def surrogate_optimum(self, models, seed: int) -> tuple[np.ndarray, dict]:
        """The point the surrogate believes best among those feasible with probability >= min_feasibility."""
        _, best_row = self._best_feasible()
        U_data = self.space.to_unit(self.data.X)
        centres = U_data[[best_row]] if best_row is not None else U_data[self.data.ok][:1]
        C = np.vstack([candidates(self.space.dim, centres, n_global=self.settings.candidates, n_local=1024,
                                  scale=0.03, seed=seed), U_data[self.data.ok]])
        mean, std = self._predict(models, C)
        pof = probability_feasible(mean, std, self.problem.constraints)
        score = np.where(pof >= self.settings.min_feasibility, -self.sign * mean[self.problem.objective], -np.inf)
        i = int(np.argmax(score)) if np.isfinite(score).any() else int(np.argmax(pof))
        pred = {k: (float(mean[k][i]), float(std[k][i])) for k in self.modelled}
        log.info("surrogate optimum: probability of feasibility %.3f", pof[i])
        flagged = [k for k, m in models.items() if m.assess(C[[i]])["extrapolating"][0]]
        if flagged:
            log.warning("surrogate optimum: the %s surrogate is extrapolating there (spread or distance to the "
                        "data); trust only the simulation", ", ".join(flagged))
        return self.space.from_unit(C[[i]]), pred

    # ---- driver -----------------------------------------------------------------------------------
    def run(self, progress=log.info) -> dict:
        s = self.settings
        n_initial_done = sum(o == "initial" for o in self.data.origin)
        if n_initial_done < s.initial:
            X0 = self.space.sample(s.initial, s.sampling, s.seed)[n_initial_done:]
            progress(f"initial {s.sampling} sample: {len(X0)} simulations")
            self.simulate(X0, "initial")
        iteration = sum(1 for o in set(self.data.origin) if o.startswith("batch-"))
        while len(self.data) < s.budget - 1:
            iteration += 1
            models = self.fit(seed=iteration)
            n = min(s.batch, s.budget - 1 - len(self.data))
            X, preds = self.propose(models, n, iteration)
            self.simulate(X, f"batch-{iteration}", preds)
            best, row = self._best_feasible()
            failed = len(self.data) - int(self.data.ok.sum())
            progress(f"batch {iteration}: {len(self.data)}/{s.budget} simulations, {failed} failed, best feasible "
                     f"{self.problem.objective} = "
                     + (f"{self.data.column(self.problem.objective)[row]:.6g}" if row is not None else "none yet"))
        if self.data.origin[-1] != "verify":  # (a resumed run with a larger budget verifies again)
            models = self.fit(seed=iteration + 1)
            X, pred = self.surrogate_optimum(models, seed=iteration + 1)
            self.simulate(X, "verify", [pred])
        return self.summary()

    def summary(self) -> dict:
        """The verification run (prediction beside simulation) and the answer: best simulated feasible run."""
        rows = [i for i, o in enumerate(self.data.origin) if o == "verify"]
        verify = None
        if rows:
            r = rows[-1]
            verify = {"row": r, "point": dict(zip(self.space.names, self.data.X[r])),
                      "status": self.data.status[r], "message": self.data.message[r],
                      "predicted": {n: (float(pm), float(ps)) for n, pm, ps in
                                    zip(self.data.output_names, self.data.P_mean[r], self.data.P_std[r])
                                    if np.isfinite(pm)},
                      "simulated": dict(zip(self.data.output_names, self.data.Y[r])),
                      "feasible": bool(self.problem.feasible(self.data.Y[[r]], self.data.output_names)[0])}
        _, best = self._best_feasible()
        answer = None if best is None else {
            "row": best, "origin": self.data.origin[best], "point": dict(zip(self.space.names, self.data.X[best])),
            "simulated": dict(zip(self.data.output_names, self.data.Y[best]))}
        return {"verify": verify, "answer": answer}


def best_so_far(values: np.ndarray, feasible: np.ndarray, sense: str) -> np.ndarray:
    """Running best feasible objective over the runs in order (NaN until the first feasible run)."""
    out = np.full(len(values), np.nan)
    best = np.nan
    for i, (v, ok) in enumerate(zip(values, feasible)):
        if ok and (np.isnan(best) or (v > best if sense == "max" else v < best)):
            best = v
        out[i] = best
    return out
