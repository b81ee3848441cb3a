"""Many fits of one dataset in one job: cross-validation folds, resamples, permutations.

:func:`run_fits` takes one loaded dataset (X, y in [0, 1], integer labels) and a list
of :class:`FitSpec` (training indices, evaluation indices, optional label
permutation, seed) and runs them in one process (or a pool of ``workers`` forked
processes that inherit the dataset without copying or pickling it). Each fit is a
:class:`mpsomics.mps.fit.Fit` on ``X[spec.train]`` with labels
``y[spec.train][spec.permutation]`` (a permutation test keeps the samples and
shuffles their labels), evaluated on ``X[spec.evaluate]``. A spec may instead carry a
whole replacement label vector (``spec.labels``, e.g. a permutation that respects
patient groups, :func:`mpsomics.omics.baselines.label_permutations`), used for training
and evaluation alike. Results are small: the history, the final model's probability of
the positive class for every evaluated sample (for AUCs) and, with ``observe_every``,
the per-epoch entanglement entropy and magnetization (no correlations). The sweep path
never imports torch.

With ``history=False`` (and ``observe_every=0``) the trainer runs without any per-epoch
callback and only the final model is evaluated (one history row): ~30 % faster on short
chains, for workloads that only need the final scores (``mpsomics cv``).

:func:`cv_specs` and :func:`permutation_specs` build the usual spec lists
(stratified, seeded); :func:`fold_specs` turns given folds (e.g. patient-grouped ones,
:mod:`mpsomics.validation.folds`) into specs.
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
    ``seed``: the model seed (``TrainConfig.seed``); ``labels``: class indices of
    *every* sample of the dataset replacing ``y`` for this fit, in training and
    evaluation (None = ``y``; ``permutation`` still applies on top); ``columns``: the
    dataset columns (sites, in this order) the fit uses (None = all; pruned chains,
    :mod:`mpsomics.validation.panels`); ``initial``: initial tensors of the sweep
    (:func:`mpsomics.mps.sweep.restrict_initial`, a rewound start; None = the usual seeded
    start). ``initial`` needs the sweep method and a fit without history or observables.
    """

    name: str
    train: np.ndarray
    evaluate: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    permutation: np.ndarray | None = None
    seed: int = 0
    labels: np.ndarray | None = None
    columns: np.ndarray | None = None
    initial: list[np.ndarray] | None = None


@dataclass
class FitResult:
    spec: FitSpec
    history: pd.DataFrame
    entropy: np.ndarray | None  # (epochs, C, N-1)
    magnetization: np.ndarray | None  # (epochs, C, N)
    label_site: int
    bond_dims: list[int]
    seconds: float
    #: Born probability of the positive class, f_pos^2 / sum_l f_l^2, of the final model
    #: for every sample of ``spec.evaluate`` (in that order)
    probability: np.ndarray | None = None
    #: the final model itself (only with ``run_fits(..., keep_state=True)``)
    state: object | None = None


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


def fold_specs(
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    seed: int = 0,
    *,
    labels: np.ndarray | None = None,
    prefix: str = "f",
) -> list[FitSpec]:
    """One spec per given ``(train, evaluate)`` fold: named ``{prefix}{i}``, model seed ``seed + i``.

    ``labels``: replacement labels of every sample (:attr:`FitSpec.labels`), the same
    for every fold (e.g. one label permutation evaluated on fixed folds).
    """
    return [
        FitSpec(f"{prefix}{i}", np.asarray(tr, dtype=np.int64), np.asarray(ev, dtype=np.int64),
                None, seed + i, None if labels is None else np.asarray(labels))
        for i, (tr, ev) in enumerate(folds)
    ]


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


def _positive_probability(state, X: np.ndarray, positive: int) -> np.ndarray:
    """Born probability of class ``positive`` for every row of ``X`` (empty for no rows)."""
    if len(X) == 0:
        return np.zeros(0)
    from mpsomics.mps.contract import log_scores

    scaled, _ = log_scores(state, X)  # unit norm per sample: squares are probabilities
    return scaled[:, positive] ** 2


def _train_only(X: np.ndarray, y: np.ndarray, cfg: TrainConfig, name: str, job: dict,
                genes: list[str] | None = None, initial: list[np.ndarray] | None = None):
    """The final model of a training without per-epoch callbacks (no history, no observables).

    ``genes``: site names (default: the job's); ``initial``: the sweep's initial tensors.
    """
    from mpsomics.mps.fit import TrainingDivergedError, _threads

    kwargs = dict(genes=job["genes"] if genes is None else genes, classes=job["classes"],
                  config=cfg)
    if initial is not None and cfg.method != "sweep":
        raise ValueError(f"{name}: an initial state needs the sweep method, not {cfg.method!r}")
    try:
        with _threads(1):
            if cfg.method == "sweep":
                from mpsomics.mps.sweep import train_sweep

                return train_sweep(X, y, initial=initial, **kwargs)
            if cfg.method == "gradient":
                from mpsomics.mps.gradient import train_gradient

                return train_gradient(X, y, **kwargs)
            raise ValueError(f"unknown method {cfg.method!r}")
    except (FloatingPointError, np.linalg.LinAlgError) as exc:
        raise TrainingDivergedError(name, int(cfg.epochs), str(exc)) from exc


def _final_history(state, spec: FitSpec, X, y_train, y_eval, epochs: int, positive: int,
                   seconds: float) -> pd.DataFrame:
    """The one-row history (last epoch, loss NaN) of a fit run by :func:`_train_only`."""
    from mpsomics.core.metrics import classification_metrics
    from mpsomics.mps.contract import predict
    from mpsomics.mps.fit import HISTORY_COLUMNS

    row: dict = {"epoch": int(epochs), "loss": float("nan")}
    for split, idx, yy in (("train", spec.train, y_train), ("test", spec.evaluate, y_eval)):
        pred = predict(state, X[idx]) if len(idx) else np.zeros(0, dtype=np.int64)
        for key, val in classification_metrics(yy, pred, positive=positive).items():
            row[f"{split}_{key}"] = float(val)
    row["seconds"] = seconds
    row["max_bond"] = int(max(state.bond_dims)) if state.bond_dims else 1
    history = pd.DataFrame([row], columns=HISTORY_COLUMNS)
    history["epoch"] = history["epoch"].astype(np.int64)
    history["max_bond"] = history["max_bond"].astype(np.int64)
    return history


def _one(i: int) -> FitResult:
    import time

    job = _JOB
    spec: FitSpec = job["specs"][i]
    X, genes = job["X"], job["genes"]
    if spec.columns is not None:
        cols = np.asarray(spec.columns, dtype=np.int64)
        X, genes = X[:, cols], [genes[c] for c in cols]
    y = job["y"] if spec.labels is None else np.asarray(spec.labels, dtype=np.int64)
    y_train = y[spec.train]
    if spec.permutation is not None:
        y_train = y_train[np.asarray(spec.permutation)]
    cfg = TrainConfig(**{**job["config"].to_dict(), "seed": int(spec.seed), "threads": 1,
                         "checkpoint_every": 0})
    t0 = time.perf_counter()
    # a validation split (early stopping, patience) needs Fit's per-epoch bookkeeping
    if not job["history"] and not job["observe_every"] and not cfg.validation_fraction:
        state = _train_only(X[spec.train], y_train, cfg, spec.name, job, genes, spec.initial)
        history = _final_history(state, spec, X, y_train, y[spec.evaluate], cfg.epochs,
                                 job["positive"], time.perf_counter() - t0)
        entropy = magnetization = None
    else:
        if spec.initial is not None:
            raise ValueError(f"{spec.name}: an initial state needs history=False, observe_every=0 "
                             "and no validation split")
        state, history, obs = Fit(
            X[spec.train], y_train, X[spec.evaluate], y[spec.evaluate],
            genes=genes, classes=job["classes"], config=cfg, positive=job["positive"],
            observe_every=job["observe_every"], name=spec.name, progress=False,
            correlations=False,
        ).run()
        entropy = np.asarray(obs.entropy) if obs.epochs else None
        magnetization = np.asarray(obs.magnetization) if obs.epochs else None
    return FitResult(
        spec=spec,
        history=history,
        entropy=entropy,
        magnetization=magnetization,
        label_site=int(state.label_site),
        bond_dims=[int(b) for b in state.bond_dims],
        seconds=time.perf_counter() - t0,
        probability=_positive_probability(state, X[spec.evaluate], job["positive"]),
        state=state if job.get("keep_state") else None,
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
    history: bool = True,
    keep_state: bool = False,
):
    """Run every spec; yield :class:`FitResult` in spec order.

    ``workers`` > 1 forks that many processes (one BLAS thread each), which inherit the
    dataset; ``workers`` = 1 runs in this process. ``history=False`` with
    ``observe_every=0``: no per-epoch evaluation, the history is the last epoch only.
    ``keep_state``: return every final model in :attr:`FitResult.state` (an
    :class:`~mpsomics.mps.state.MPSState`; pickled back from the workers).
    """
    from mpsomics.mps.fit import _threads

    _JOB.clear()
    _JOB.update(
        X=np.asarray(X, dtype=np.float64), y=np.asarray(y, dtype=np.int64), specs=list(specs),
        genes=list(genes), classes=list(classes), config=config, positive=int(positive),
        observe_every=int(observe_every), history=bool(history), keep_state=bool(keep_state),
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
