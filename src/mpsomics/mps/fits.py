"""Many fits of one dataset in one job: cross-validation folds, resamples, permutations.

:func:`run_fits` takes one loaded dataset (X, y in [0, 1], integer labels) and a list
of :class:`FitSpec` (training indices, evaluation indices, optional label
permutation, seed) and runs them in one process (or a pool of ``workers`` forked
processes that inherit the dataset without copying or pickling it). Each fit is a
:class:`mpsomics.mps.fit.Fit` on ``X[spec.train]`` with labels
``y[spec.train][spec.permutation]`` (a permutation test keeps the samples and
shuffles their labels), evaluated on ``X[spec.evaluate]``. Results are small:
the history and, with ``observe_every``, the per-epoch entanglement entropy and
magnetization (no correlations). The sweep path never imports torch.

:func:`cv_specs` and :func:`permutation_specs` build the usual spec lists
(stratified, seeded).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mpsomics.mps.config import TrainConfig
from mpsomics.mps.fit import Fit


@dataclass(frozen=True)
class FitSpec:
    """One fit of a validation workload.

    ``train``/``evaluate``: sample indices into the dataset; ``permutation``: indices
    into ``train`` giving the labels each training sample gets (None = true labels);
    ``seed``: the model seed (``TrainConfig.seed``).
    """

    name: str
    train: np.ndarray
    evaluate: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    permutation: np.ndarray | None = None
    seed: int = 0


@dataclass
class FitResult:
    spec: FitSpec
    history: pd.DataFrame
    entropy: np.ndarray | None  # (epochs, C, N-1)
    magnetization: np.ndarray | None  # (epochs, C, N)
    label_site: int
    bond_dims: list[int]
    seconds: float


def _stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    folds: list[list[int]] = [[] for _ in range(k)]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        for i, j in enumerate(idx):
            folds[i % k].append(int(j))
    return [np.sort(np.asarray(f, dtype=np.int64)) for f in folds]


def cv_specs(y: np.ndarray, folds: int, repeats: int = 1, seed: int = 0) -> list[FitSpec]:
    """Repeated stratified K-fold: train on K-1 folds, evaluate on the held-out one."""
    y = np.asarray(y)
    specs = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r, 0xF01D])
        parts = _stratified_folds(y, folds, rng)
        for f, held in enumerate(parts):
            train = np.setdiff1d(np.arange(len(y)), held)
            specs.append(FitSpec(f"r{r}_f{f}", train, held, None, seed + len(specs)))
    return specs


def permutation_specs(
    y: np.ndarray, n: int, seed: int = 0, evaluate: np.ndarray | None = None
) -> list[FitSpec]:
    """``n`` fits on all samples with shuffled labels (seeded)."""
    everyone = np.arange(len(y))
    held = np.zeros(0, dtype=np.int64) if evaluate is None else np.asarray(evaluate)
    train = np.setdiff1d(everyone, held)
    out = []
    for p in range(n):
        rng = np.random.default_rng([seed, p, 0x9E57])
        out.append(FitSpec(f"perm{p}", train, held, rng.permutation(len(train)), seed + p))
    return out


# the dataset of a job, inherited by forked workers
_JOB: dict = {}


def _one(i: int) -> FitResult:
    import time

    job = _JOB
    spec: FitSpec = job["specs"][i]
    X, y = job["X"], job["y"]
    y_train = y[spec.train]
    if spec.permutation is not None:
        y_train = y_train[np.asarray(spec.permutation)]
    cfg = TrainConfig(**{**job["config"].to_dict(), "seed": int(spec.seed), "threads": 1,
                         "checkpoint_every": 0})
    t0 = time.perf_counter()
    state, history, obs = Fit(
        X[spec.train], y_train, X[spec.evaluate], y[spec.evaluate],
        genes=job["genes"], classes=job["classes"], config=cfg, positive=job["positive"],
        observe_every=job["observe_every"], name=spec.name, progress=False, correlations=False,
    ).run()
    return FitResult(
        spec=spec,
        history=history,
        entropy=np.asarray(obs.entropy) if obs.epochs else None,
        magnetization=np.asarray(obs.magnetization) if obs.epochs else None,
        label_site=int(state.label_site),
        bond_dims=[int(b) for b in state.bond_dims],
        seconds=time.perf_counter() - t0,
    )


def run_fits(
    X: np.ndarray,
    y: np.ndarray,
    specs: Sequence[FitSpec],
    *,
    genes: list[str],
    classes: list[str],
    config: TrainConfig,
    positive: int = 1,
    observe_every: int = 0,
    workers: int = 1,
):
    """Run every spec; yield :class:`FitResult` in spec order.

    ``workers`` > 1 forks that many processes (one BLAS thread each), which inherit the
    dataset; ``workers`` = 1 runs in this process.
    """
    from mpsomics.mps.fit import _threads

    _JOB.clear()
    _JOB.update(
        X=np.asarray(X, dtype=np.float64), y=np.asarray(y, dtype=np.int64), specs=list(specs),
        genes=list(genes), classes=list(classes), config=config, positive=int(positive),
        observe_every=int(observe_every),
    )
    n = len(_JOB["specs"])
    try:
        if workers <= 1 or n <= 1 or not hasattr(os, "fork"):
            with _threads(1):
                for i in range(n):
                    yield _one(i)
            return
        import multiprocessing as mp

        with _threads(1), mp.get_context("fork").Pool(min(workers, n)) as pool:
            yield from pool.imap(_one, range(n))
    finally:
        _JOB.clear()
