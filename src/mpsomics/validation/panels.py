"""Minimal gene panels of a community: iterative lottery-ticket pruning of its MPS.

What ``mpsomics panels`` computes for one community, on the *training* split only
(patient-grouped stratified folds of :func:`mpsomics.validation.folds.grouped_folds`,
``folds`` x ``repeats``; nothing is chosen from the test split):

**Pruning chain** (one per fold, on the fold's training part, and one on the whole
training split). Round 0 trains the dense MPS on all N sites with the pipeline's
:class:`~mpsomics.mps.config.TrainConfig` (model seed ``seed + j`` for the j-th fold of
the list, ``seed`` for the whole split, as :mod:`mpsomics.validation.crossval`). Round
r + 1 keeps ``k_{r+1} = k_r - max(1, round(rate * k_r))`` sites (not below
``min_sites``, at least 2: the two-site sweep needs two sites), dropping the sites of
lowest **importance** under the round-r *rewound* model (iterative magnitude-style
pruning). The importance of site j is the increase of the class-balanced mean
cross-entropy ``-ln p(true class | x)`` of the Born probabilities
``p(l | x) = f_l(x)^2 / sum_l' f_l'(x)^2`` on the chain's training samples when site
j's input is replaced by its mean over those samples (an ablation; ties keep the
earlier site). Every round retrains on the kept sites in two ways:

- **rewind**: from the dense run's initial state restricted to the kept sites
  (:func:`mpsomics.mps.sweep.restrict_initial`: pruned sites' initial tensors
  contracted with the uniform local state (1, 1)/sqrt(2) and absorbed into a kept
  neighbour, re-canonicalised), same seed;
- **reinit**: a fresh initial state of the kept chain from the seed
  ``model seed + REINIT_SEED_OFFSET`` (fold chains only). At round 0 both are the
  dense model.

**Curve**: per round and mode, the mean held-out ROC AUC over the folds with its
Nadeau-Bengio corrected t interval (:func:`~mpsomics.validation.crossval._summary`),
and ``entropy_mean``: the mean over folds and classes of the largest bond entropy of the
class state (:func:`mpsomics.mps.observables.entropy`). The **L1 baseline** at the same
size k: on each fold's training part an L1-penalised, class-balanced logistic
regression on standardised genes along a path of C (``L1_PATH`` values from
:func:`sklearn.svm.l1_min_c` upwards); the first C with >= k non-zero coefficients
gives the top-k genes by |coefficient| (if no C reaches k, the largest C's ranking);
then ``make_model("logistic_regression")`` refitted on those genes is scored on the
held-out part.

**Panel**: its size is the smallest k on the curve whose rewind mean AUC >= the dense
mean AUC - ``tolerance``. The CV curve estimates the *procedure*; the panel's genes are
the kept sites of the whole-split chain at that size, and the L1 panel is the L1 rule
on the whole training split with k = panel size; ``overlap_l1`` is their Jaccard index.

**Permutation null** of the panel AUC (``panel_p``): ``permutations`` patient-respecting
label permutations (:func:`mpsomics.core.stats.label_permutations`), each through a
cheap version of the procedure: repeat 0's folds only, ``permutation_epochs`` sweeps,
one-shot pruning of the dense (permuted) model straight to the panel size, rewind
retraining; statistic = mean held-out AUC. The observed statistic is the same cheap
procedure on the true labels; ``panel_p`` = :func:`~mpsomics.validation.stats.empirical_p`.

**Test split** (final figure only): the whole-split dense model, the whole-split panel
(rewind at the panel size) and the L1 panel (refitted on the whole training split):
test AUC with a class-stratified bootstrap interval
(:func:`~mpsomics.validation.crossval.test_metrics`).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.mps.config import TrainConfig
from mpsomics.validation.crossval import CVData, _summary, permutation_statistic, test_metrics
from mpsomics.validation.folds import Fold, grouped_folds

log = logging.getLogger(__name__)

#: Seed offset of the re-initialised (non-rewound) retraining: model seed + this.
REINIT_SEED_OFFSET = 1_000_003
#: Number of C values of the L1 path (log-spaced over four decades above l1_min_c).
L1_PATH = 40
#: The sweep's two-site updates need at least this many sites.
MIN_SITES = 2
MODES: tuple[str, ...] = ("rewind", "reinit", "l1")

CURVE_COLUMNS: tuple[str, ...] = (
    "community", "round", "n_kept", "kept_fraction", "mode", "auc_mean", "auc_low",
    "auc_high", "auc_sd", "entropy_mean", "genes_removed",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "community", "n_sites", "panel_size", "panel_round",
    "dense_auc", "dense_auc_low", "dense_auc_high",
    "panel_auc", "panel_auc_low", "panel_auc_high",
    "rewind_auc", "rewind_auc_low", "rewind_auc_high",
    "reinit_auc", "reinit_auc_low", "reinit_auc_high",
    "l1_auc", "l1_auc_low", "l1_auc_high",
    "overlap_l1", "panel_p", "n_permutations", "permutation_observed", "permutation_epochs",
    "tolerance", "rate", "n_folds", "n_repeats", "n_train",
    "test_dense_auc", "test_dense_auc_low", "test_dense_auc_high",
    "test_panel_auc", "test_panel_auc_low", "test_panel_auc_high",
    "test_l1_auc", "test_l1_auc_low", "test_l1_auc_high",
    "panel_genes", "l1_genes", "seconds",
)


# --- pruning ---------------------------------------------------------------------------


def round_sizes(n_sites: int, rate: float, min_sites: int = MIN_SITES) -> list[int]:
    """Kept sites per round: N, then ``k - max(1, round(rate * k))`` down to ``min_sites``."""
    sizes = [int(n_sites)]
    while sizes[-1] > min_sites:
        k = sizes[-1]
        sizes.append(max(int(min_sites), k - max(1, int(np.floor(rate * k + 0.5)))))
    return sizes


def site_importance(state, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ablation importance of every site of ``state`` on the samples ``X``, labels ``y``.

    The increase of the class-balanced mean cross-entropy of the Born probability of the
    true class when site j's column is replaced by its mean over ``X`` (module docstring).

    Parameters
    ----------
    state
        An :class:`~mpsomics.mps.state.MPSState` whose sites are the columns of ``X``.
    X
        (n, N) values in [0, 1].
    y
        Class indices of the samples.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    base = _balanced_cross_entropy(state, X, y)
    out = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        Xj = X.copy()
        Xj[:, j] = X[:, j].mean()
        out[j] = _balanced_cross_entropy(state, Xj, y) - base
    return out


def _balanced_cross_entropy(state, X: np.ndarray, y: np.ndarray) -> float:
    from mpsomics.mps.contract import log_scores

    scaled, _ = log_scores(state, X)  # unit norm per sample: squares are probabilities
    p = scaled[np.arange(len(y)), y] ** 2
    ce = -np.log(np.maximum(p, np.finfo(np.float64).tiny))
    return float(np.mean([ce[y == c].mean() for c in np.unique(y)]))


def keep_most_important(importance: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest importances, in site order (ties: earlier site kept)."""
    order = np.argsort(-np.asarray(importance), kind="stable")
    return np.sort(order[:k])


def max_bond_entropy(state) -> float:
    """Mean over classes of the largest bond entropy of the class state (natural log)."""
    from mpsomics.mps.observables import entropy

    return float(np.mean([entropy(state, c).max() for c in range(state.n_classes)]))


@dataclass
class Chain:
    """One pruning chain: a training part (and held-out part) of the training split.

    ``keeps[r]``: kept site indices (into the community's genes) at round r;
    ``prob[mode][r]``: held-out positive-class probabilities; ``entropy[mode][r]``;
    ``states[r]``: the rewound model of round r.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    seed: int
    reinit: bool = True
    keeps: list[np.ndarray] = field(default_factory=list)
    prob: dict = field(default_factory=lambda: {"rewind": [], "reinit": []})
    entropy: dict = field(default_factory=lambda: {"rewind": [], "reinit": []})
    states: list = field(default_factory=list)


def _round_specs(chains: Sequence[Chain], initials: Sequence[list], r: int):
    """FitSpecs of round r: per chain a rewind fit (and a reinit fit for r > 0)."""
    from mpsomics.mps.fits import FitSpec
    from mpsomics.mps.sweep import restrict_initial

    specs, where = [], []
    for c, (ch, init) in enumerate(zip(chains, initials, strict=True)):
        keep = ch.keeps[r]
        start = None if r == 0 else restrict_initial(init, keep)
        cols = None if r == 0 else keep
        specs.append(FitSpec(f"{ch.name}_r{r}_rewind", ch.train, ch.test, None, ch.seed,
                             None, cols, start))
        where.append((c, "rewind"))
        if r > 0 and ch.reinit:
            specs.append(FitSpec(f"{ch.name}_r{r}_reinit", ch.train, ch.test, None,
                                 ch.seed + REINIT_SEED_OFFSET, None, cols, None))
            where.append((c, "reinit"))
    return specs, where


def run_chains(X: np.ndarray, y: np.ndarray, chains: Sequence[Chain], sizes: Sequence[int],
               config: TrainConfig, *, genes: list[str], classes: list[str], positive: int,
               workers: int = 1) -> None:
    """Run the pruning rounds of every chain (in place); all fits of a round in one job.

    ``X``: the training split's values in [0, 1]; ``y``: its class indices.
    """
    from mpsomics.mps.fits import run_fits
    from mpsomics.mps.sweep import initial_sites

    cfg = replace(config, checkpoint_every=0, threads=1)
    initials = [initial_sites(X.shape[1], len(classes), replace(cfg, seed=ch.seed))
                for ch in chains]
    for ch in chains:
        ch.keeps = [np.arange(X.shape[1])]
    for r, k in enumerate(sizes):
        specs, where = _round_specs(chains, initials, r)
        results = run_fits(X, y, specs, genes=genes, classes=classes, config=cfg,
                           positive=positive, workers=workers, history=False, keep_state=True)
        for (c, mode), res in zip(where, results, strict=True):
            ch = chains[c]
            ch.prob[mode].append(res.probability)
            ch.entropy[mode].append(max_bond_entropy(res.state))
            if mode == "rewind":
                ch.states.append(res.state)
                if r == 0:  # round 0: the reinit curve starts at the dense model
                    ch.prob["reinit"].append(res.probability)
                    ch.entropy["reinit"].append(ch.entropy["rewind"][0])
        if r + 1 < len(sizes):
            for ch in chains:
                keep = ch.keeps[r]
                imp = site_importance(ch.states[r], X[ch.train][:, keep], y[ch.train])
                ch.keeps.append(keep[keep_most_important(imp, sizes[r + 1])])
        log.info("round %d: %d sites, %d fits", r, k, len(specs))


# --- L1 baseline -----------------------------------------------------------------------


def l1_ranking(X: np.ndarray, y01: np.ndarray, sizes: Sequence[int],
               seed: int = 0) -> dict[int, np.ndarray]:
    """Top-k genes (column indices, sorted) of the L1-logistic path for every k in ``sizes``.

    Class-balanced L1 logistic regression (liblinear) on standardised columns for
    ``L1_PATH`` values of C log-spaced over four decades from ``l1_min_c``; for each k the
    first C with >= k non-zero coefficients, top k by |coefficient| (ties: earlier
    column); if no C reaches k, the largest C's ranking. ``seed``: liblinear's
    ``random_state`` (its coordinate descent shuffles; unseeded runs differ).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import l1_min_c

    Xs = StandardScaler().fit_transform(np.asarray(X, dtype=np.float64))
    c0 = l1_min_c(Xs, y01, loss="log")
    coefs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings at tiny C
        for c in c0 * np.logspace(0, 4, L1_PATH):
            m = LogisticRegression(penalty="l1", solver="liblinear", C=float(c),
                                   class_weight="balanced", max_iter=1000,
                                   random_state=seed).fit(Xs, y01)
            coefs.append(np.abs(m.coef_[0]))
    nnz = np.array([np.count_nonzero(c) for c in coefs])
    out = {}
    for k in sizes:
        hit = np.flatnonzero(nnz >= k)
        coef = coefs[hit[0]] if hit.size else coefs[-1]
        out[int(k)] = np.sort(np.argsort(-coef, kind="stable")[:k])
    return out


def l1_fold_probabilities(X: np.ndarray, y01: np.ndarray, folds: Sequence[Fold],
                          sizes: Sequence[int], seed: int = 0) -> dict[int, list[np.ndarray]]:
    """Held-out probabilities of the L1-selected logistic regression per size and fold."""
    from mpsomics.validation.crossval import baseline_fold_probabilities

    out: dict[int, list[np.ndarray]] = {int(k): [] for k in sizes}
    for f in folds:
        ranking = l1_ranking(X[f.train], y01[f.train], sizes, seed)
        for k in sizes:
            cols = ranking[int(k)]
            (p,) = baseline_fold_probabilities("logistic_regression", X[:, cols], y01, [f],
                                               seed=seed)
            out[int(k)].append(p)
    return out


# --- permutation null ------------------------------------------------------------------


def permutation_null(X: np.ndarray, data: CVData, folds: Sequence[Fold], panel_size: int,
                     config: TrainConfig, label_sets: Sequence[np.ndarray], *, seed: int = 0,
                     workers: int = 1) -> list[float]:
    """The cheap panel statistic (module docstring) of every label set, in order.

    Per label set and fold (model seed ``seed + j``): the dense model with
    ``config.epochs`` sweeps, one-shot pruning by :func:`site_importance` on the fold's
    training part (under that label set) to ``panel_size`` sites, rewound retraining;
    statistic = mean held-out AUC (:func:`~mpsomics.validation.crossval.permutation_statistic`).
    """
    from mpsomics.mps.fits import FitSpec, run_fits
    from mpsomics.mps.sweep import initial_sites, restrict_initial

    cfg = replace(config, checkpoint_every=0, threads=1)
    kw = dict(genes=data.genes, classes=data.classes, config=cfg, positive=data.positive,
              workers=workers, history=False)
    jobs = [(lab, j, f) for lab in label_sets for j, f in enumerate(folds)]
    specs = [FitSpec(f"null{s}", f.train, f.test, None, seed + j, np.asarray(lab))
             for s, (lab, j, f) in enumerate(jobs)]
    dense = list(run_fits(X, data.y_train, specs, keep_state=True, **kw))
    probs = [r.probability for r in dense]
    if panel_size < X.shape[1]:
        pruned = []
        for (lab, j, f), res in zip(jobs, dense, strict=True):
            imp = site_importance(res.state, X[f.train], np.asarray(lab)[f.train])
            keep = keep_most_important(imp, panel_size)
            start = restrict_initial(initial_sites(X.shape[1], len(data.classes),
                                                   replace(cfg, seed=seed + j)), keep)
            pruned.append(FitSpec(f"null_panel{j}", f.train, f.test, None, seed + j,
                                  np.asarray(lab), keep, start))
        probs = [r.probability for r in run_fits(X, data.y_train, pruned, **kw)]
    k = len(folds)
    return [
        permutation_statistic(folds, (np.asarray(lab) == data.positive).astype(int),
                              probs[s * k:(s + 1) * k])
        for s, lab in enumerate(label_sets)
    ]


# --- the per-community tables ----------------------------------------------------------


def check_options(n_genes: int, config: TrainConfig, *, folds: int, repeats: int, rate: float,
                  min_sites: int, tolerance: float, permutations: int,
                  permutation_epochs: int) -> None:
    """InputError naming the option for settings the procedure cannot run with."""
    problems = [
        (config.method != "sweep", f"--method must be sweep (rewinding restarts a sweep), got {config.method!r}"),
        (bool(config.validation_fraction), "--validation-fraction must be 0 for panels (fits keep no validation split)"),
        (n_genes < MIN_SITES, f"panels need at least {MIN_SITES} genes, the community has {n_genes}"),
        (not 0 < rate < 1, f"--rate must be in (0, 1), got {rate}"),
        (min_sites < MIN_SITES, f"--min-sites must be >= {MIN_SITES} (two-site sweep), got {min_sites}"),
        (not 0 <= tolerance < 1, f"--tolerance must be in [0, 1), got {tolerance}"),
        (folds < 2, f"--folds must be >= 2, got {folds}"),
        (repeats < 1, f"--repeats must be >= 1, got {repeats}"),
        (permutations < 0, f"--permutations must be >= 0, got {permutations}"),
        (permutation_epochs < 1, f"--permutation-epochs must be >= 1, got {permutation_epochs}"),
        (config.seed < 0, f"--seed must be >= 0 (it seeds folds and permutations), got {config.seed}"),
    ]
    for bad, message in problems:
        if bad:
            raise InputError(None, message)


def _curve(community: str, chains: Sequence[Chain], whole: Chain, folds: Sequence[Fold],
           sizes: Sequence[int], y01: np.ndarray, l1: dict, genes: list[str]) -> pd.DataFrame:
    rows = []
    n = len(genes)
    for r, k in enumerate(sizes):
        removed = "" if r == 0 else ",".join(
            genes[i] for i in np.setdiff1d(whole.keeps[r - 1], whole.keeps[r]))
        for mode in MODES:
            probs = l1[k] if mode == "l1" else [ch.prob[mode][r] for ch in chains]
            s = _summary(folds, y01, probs)
            ent = (float(np.mean([ch.entropy[mode][r] for ch in chains]))
                   if mode != "l1" else float("nan"))
            rows.append({
                "community": community, "round": r, "n_kept": k, "kept_fraction": k / n,
                "mode": mode, "auc_mean": s["auc_mean"], "auc_low": s["auc_low"],
                "auc_high": s["auc_high"], "auc_sd": s["auc_sd"], "entropy_mean": ent,
                "genes_removed": removed,
            })
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def panel_size_from_curve(curve: pd.DataFrame, tolerance: float) -> tuple[int, int]:
    """(round, size): the smallest size whose rewind mean AUC >= dense mean - tolerance."""
    rw = curve[curve["mode"] == "rewind"].sort_values("round")
    dense = float(rw["auc_mean"].iloc[0])
    ok = rw[rw["auc_mean"].to_numpy(dtype=float) >= dense - tolerance]
    best = ok.loc[ok["n_kept"].idxmin()] if len(ok) else rw.iloc[0]
    return int(best["round"]), int(best["n_kept"])


def _test_columns(data: CVData, whole: Chain, panel_round: int, l1_cols: np.ndarray,
                  bootstrap: int, seed: int) -> dict:
    """Test-split AUCs (bootstrap intervals) of the whole-split dense, panel and L1 models."""
    from mpsomics.mps.contract import log_scores
    from mpsomics.omics.baselines import make_model

    y01_test = (data.y_test == data.positive).astype(int)
    y01_train = (data.y_train == data.positive).astype(int)
    X_test = np.clip(data.X_test, 0.0, 1.0)
    out = {}
    if len(y01_test) == 0:
        return {f"test_{m}_auc{s}": float("nan") for m in ("dense", "panel", "l1")
                for s in ("", "_low", "_high")}
    for name, state, keep in (("dense", whole.states[0], whole.keeps[0]),
                              ("panel", whole.states[panel_round], whole.keeps[panel_round])):
        scaled, _ = log_scores(state, X_test[:, keep])
        m = test_metrics(y01_test, scaled[:, data.positive] ** 2, bootstrap, seed)
        out.update({f"test_{name}_auc{s}": m[f"test_auc{s}"] for s in ("", "_low", "_high")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_model("logistic_regression", seed).fit(data.X_train[:, l1_cols], y01_train)
    score = model.predict_proba(data.X_test[:, l1_cols])[:, list(model.classes_).index(1)]
    m = test_metrics(y01_test, score, bootstrap, seed)
    out.update({f"test_l1_auc{s}": m[f"test_auc{s}"] for s in ("", "_low", "_high")})
    return out


def panel_tables(
    data: CVData,
    config: TrainConfig,
    *,
    community: str,
    folds: int = 5,
    repeats: int = 1,
    rate: float = 0.2,
    min_sites: int = MIN_SITES,
    tolerance: float = 0.01,
    permutations: int = 19,
    permutation_epochs: int = 3,
    bootstrap: int = 1000,
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``curve.tsv`` and ``summary.tsv`` of one community (module docstring).

    Parameters
    ----------
    data
        :func:`~mpsomics.validation.crossval.load_cv_data`.
    config
        The pipeline's MPS settings (sweep method); ``config.seed`` seeds folds, models
        and permutations.
    folds, repeats
        Patient-grouped stratified K-fold x repeats of the training split.
    rate, min_sites
        Fraction of the remaining sites pruned per round; smallest chain (>= 2).
    tolerance
        Allowed drop of the rewind mean AUC below the dense one at the panel size.
    permutations, permutation_epochs
        Label permutations of the null (0 = none, ``panel_p`` NaN) and their sweeps.
    bootstrap
        Replicates of the test AUC intervals.
    workers
        Processes for the MPS fits.

    Returns
    -------
    (curve with :data:`CURVE_COLUMNS`, one-row summary with :data:`SUMMARY_COLUMNS`)
    """
    t0 = time.perf_counter()
    seed = int(config.seed)
    check_options(len(data.genes), config, folds=folds, repeats=repeats, rate=rate,
                  min_sites=min_sites, tolerance=tolerance, permutations=permutations,
                  permutation_epochs=permutation_epochs)
    X = np.clip(data.X_train, 0.0, 1.0)  # the feature map expects [0, 1] (as `train`)
    y01 = (data.y_train == data.positive).astype(int)
    fold_list = grouped_folds(data.y_train, data.groups_train, folds, repeats, seed)
    sizes = round_sizes(len(data.genes), rate, min(min_sites, len(data.genes)))
    chains = [Chain(f.name, f.train, f.test, seed + j) for j, f in enumerate(fold_list)]
    whole = Chain("whole", np.arange(len(y01)), np.zeros(0, dtype=np.int64), seed, reinit=False)
    log.info("%s: %d genes, %d rounds (%s sites), %d folds", community, len(data.genes),
             len(sizes), ",".join(map(str, sizes)), len(fold_list))
    run_chains(X, data.y_train, [*chains, whole], sizes, config, genes=data.genes,
               classes=data.classes, positive=data.positive, workers=workers)
    l1 = l1_fold_probabilities(data.X_train, y01, fold_list, sizes, seed)
    curve = _curve(community, chains, whole, fold_list, sizes, y01, l1, data.genes)
    panel_round, panel_size = panel_size_from_curve(curve, tolerance)
    l1_cols = l1_ranking(data.X_train, y01, [panel_size], seed)[panel_size]
    panel = [data.genes[i] for i in whole.keeps[panel_round]]
    l1_genes = [data.genes[i] for i in l1_cols]

    stats = _null_statistics(X, data, fold_list, panel_size, config, permutations,
                             permutation_epochs, workers)
    row = _summary_row(curve, panel_round, stats, permutation_epochs if permutations else None)
    row.update(
        community=community, n_sites=len(data.genes), panel_size=panel_size,
        overlap_l1=_jaccard(panel, l1_genes), tolerance=tolerance, rate=rate,
        n_folds=len({f.fold for f in fold_list}), n_repeats=repeats, n_train=len(y01),
        panel_genes=",".join(panel), l1_genes=",".join(l1_genes),
        **_test_columns(data, whole, panel_round, l1_cols, bootstrap, seed),
    )
    row["seconds"] = time.perf_counter() - t0
    log.info("%s: panel of %d/%d genes, AUC %.3f (dense %.3f), p %.3g (%.1f s)", community,
             panel_size, len(data.genes), row["panel_auc"], row["dense_auc"], row["panel_p"],
             row["seconds"])
    return curve, pd.DataFrame([row]).reindex(columns=list(SUMMARY_COLUMNS))


def _null_statistics(X: np.ndarray, data: CVData, fold_list: Sequence[Fold], panel_size: int,
                     config: TrainConfig, permutations: int, permutation_epochs: int,
                     workers: int) -> list[float]:
    """[observed, *null] of the cheap procedure on repeat 0's folds ([NaN] without permutations)."""
    from mpsomics.core.stats import label_permutations

    if not permutations:
        return [float("nan")]
    seed = int(config.seed)
    first = [f for f in fold_list if f.repeat == 0]
    perms = label_permutations(data.y_train, data.groups_train, permutations, seed)
    cheap = replace(config, epochs=int(permutation_epochs))
    return permutation_null(X, data, first, panel_size, cheap, [data.y_train, *perms],
                            seed=seed, workers=workers)


def _jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    from mpsomics.validation.stats import jaccard

    return float(jaccard(a, b))


def _summary_row(curve: pd.DataFrame, panel_round: int, stats: Sequence[float],
                 epochs: int | None) -> dict:
    """AUC columns at round 0 (dense) and at the panel round, and the null columns."""
    from mpsomics.validation.stats import empirical_p

    row: dict = {"panel_round": panel_round}

    def at(mode: str, r: int) -> pd.Series:
        sel = curve[(curve["mode"] == mode) & (curve["round"] == r)]
        return sel.iloc[0]

    for key, mode, r in (("dense", "rewind", 0), ("panel", "rewind", panel_round),
                         ("rewind", "rewind", panel_round), ("reinit", "reinit", panel_round),
                         ("l1", "l1", panel_round)):
        s = at(mode, r)
        row.update({f"{key}_auc": s["auc_mean"], f"{key}_auc_low": s["auc_low"],
                    f"{key}_auc_high": s["auc_high"]})
    null = np.asarray(stats[1:], dtype=float)
    null = null[np.isfinite(null)]
    ok = null.size > 0 and np.isfinite(stats[0])
    row.update(
        panel_p=empirical_p(stats[0], null) if ok else float("nan"),
        n_permutations=int(null.size), permutation_observed=float(stats[0]),
        permutation_epochs=epochs,
    )
    return row


def summarize(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate per-community ``summary.tsv`` tables; add ``panel_q`` (BH over communities).

    Input order is kept; no paths give a header-only table.

    Raises
    ------
    InputError
        A table that is not a panels summary, or a community in more than one table.
    """
    from mpsomics.core.readers import read_tsv
    from mpsomics.core.stats import bh

    if not paths:  # no community: a header-only table
        cols = list(SUMMARY_COLUMNS)
        return pd.DataFrame(columns=cols[:cols.index("panel_p") + 1] + ["panel_q"]
                            + cols[cols.index("panel_p") + 1:])
    numeric = [c for c in SUMMARY_COLUMNS if c.endswith(("_auc", "_low", "_high", "_p"))]
    frames = [
        read_tsv(p, required=("community", "panel_size", "panel_p", "panel_auc"),
                 numeric=numeric, text=("community", "panel_genes", "l1_genes"),
                 complete=("community",), min_rows=1)
        for p in paths
    ]
    out = pd.concat(frames, ignore_index=True, sort=False)
    dup = out["community"].duplicated()
    if dup.any():
        raise InputError(None, f"community {out.loc[dup, 'community'].iloc[0]!r} appears in more "
                               "than one panels summary")
    out.insert(out.columns.get_loc("panel_p") + 1, "panel_q",
               bh(out["panel_p"].to_numpy(dtype=float)))
    return out
