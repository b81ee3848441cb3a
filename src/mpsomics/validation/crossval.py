"""Repeated patient-grouped cross-validation of the MPS and the classical baselines.

What ``mpsomics cv`` computes for one community (one row per model of :data:`MODELS`):

**Cross-validation** on the *training* split only, on identical folds for every model
(:func:`mpsomics.validation.folds.grouped_folds`: K patient-grouped stratified folds x R
repeats). Per fold: the ROC AUC of the held-out samples' positive-class score and the
balanced accuracy of the model's own prediction (positive when the score > 0.5). The
MPS is trained by :func:`mpsomics.mps.fits.run_fits` with the pipeline's MPS settings
(model seed ``seed + j`` for the j-th fold of the whole list); its score is the Born
probability of the positive class, f_pos^2 / sum_l f_l^2. The baselines are
:func:`mpsomics.omics.baselines.make_model` (standardised L2 logistic regression and a
random forest, both class-balanced) on the community's scaled values.

**Interval** (``interval_method = nadeau_bengio_t``): the J = K x R fold values are not
independent (the training parts overlap), so the naive t interval is far too narrow.
The corrected resampled t interval of Nadeau & Bengio (2003, Machine Learning
52:239) inflates the variance: ``mean +- t_{J-1, 0.975} * sqrt((1/J + n_test/n_train) *
s^2)``, with ``s^2`` the sample variance of the fold values and ``n_test/n_train`` the
mean held-out / training sizes of the folds; clipped to [0, 1]
(:func:`corrected_t_interval`).

**Label-permutation null** (``permutation_p``): labels are permuted within the training
split respecting patients (:func:`mpsomics.omics.baselines.label_permutations`: patients
with the same number of samples exchange their label vectors and labels are shuffled
within a patient, so class counts and each patient's label mix are kept). Every
permutation is evaluated by a *cheaper* procedure than the reported CV: repeat 0's K
folds only (fixed, those of the true labels) and, for the MPS, ``permutation_epochs``
sweeps instead of ``epochs``; the statistic is the mean held-out AUC over those folds
(folds whose held-out part has one class only under a permutation are skipped). The
observed statistic is computed by exactly the same cheap procedure on the true labels
(``permutation_observed``), and ``permutation_p`` is the +1-corrected empirical p of it
against the null draws (:func:`mpsomics.validation.stats.empirical_p`). Logistic
regression gets the same null (cheap: one fit is milliseconds). The random forest gets
one only with ``forest_permutations`` > 0 (default 0, ``permutation_p`` NaN): 100 trees
cost ~0.1 s per fit, i.e. ~10 s per community for 19 permutations x 5 folds, half the
time budget of the whole ``cv`` stage.

**Test split** (the final figure): the trained pipeline model (``mpsomics train``, MPS
or TTN) and the baselines fitted on the whole training split are evaluated once on the
test split: AUC with a class-stratified percentile bootstrap interval
(:func:`bootstrap_auc_interval`), balanced accuracy, and the class counts. Nothing in
the test split influences any choice.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.stats import rankdata

from mpsomics.core.errors import InputError
from mpsomics.mps.config import TrainConfig
from mpsomics.validation.folds import Fold, grouped_folds
from mpsomics.validation.stats import empirical_p

log = logging.getLogger(__name__)

MODELS: tuple[str, ...] = ("mps", "logistic_regression", "random_forest")
BASELINES: tuple[str, ...] = ("logistic_regression", "random_forest")
INTERVAL_METHOD = "nadeau_bengio_t"
TEST_INTERVAL_METHOD = "stratified_percentile_bootstrap"

#: Columns of the per-community table (``mpsomics cv``), in order.
COLUMNS: tuple[str, ...] = (
    "community", "model", "n_genes", "n_train", "n_folds", "n_repeats",
    "auc_mean", "auc_low", "auc_high", "auc_sd",
    "balanced_accuracy_mean", "balanced_accuracy_low", "balanced_accuracy_high",
    "balanced_accuracy_sd", "interval_method",
    "permutation_p", "n_permutations", "permutation_observed", "permutation_null_median",
    "permutation_null_q95", "permutation_epochs",
    "test_model", "test_auc", "test_auc_low", "test_auc_high", "test_balanced_accuracy",
    "test_n_positive", "test_n_negative", "n_bootstrap", "test_interval_method", "seconds",
)  # fmt: skip


@dataclass
class CVData:
    """The arrays of one community: ``X`` are the prepared scaled values (``.X``).

    ``y_*`` are class indices into ``classes``; ``positive`` is the index of
    ``uns["positive_label"]``; ``groups_train`` the patients of the training samples.
    """

    genes: list[str]
    X_train: np.ndarray
    y_train: np.ndarray
    groups_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    positive: int

    @property
    def positive_label(self) -> str:
        return self.classes[self.positive]


def load_cv_data(expression: str | Path, genes: Sequence[str], genes_path: str | Path) -> CVData:
    """Read the prepared AnnData (:func:`~mpsomics.core.readers.read_prepared`) for ``genes``.

    Raises
    ------
    InputError
        Genes missing from the expression file, or not exactly two classes.
    """
    from mpsomics.core.readers import check_genes_present, read_prepared

    path = Path(expression)
    adata = read_prepared(path)
    check_genes_present(adata, genes, path, genes_path)
    classes = [str(c) for c in adata.uns["classes"]]
    if len(classes) != 2:
        raise InputError(path, f"cross-validation needs two classes, the file has {len(classes)}")
    labels = adata.obs["label"].astype(str).to_numpy()
    train = adata.obs["split"].astype(str).to_numpy() == "train"
    y = np.array([classes.index(lab) for lab in labels], dtype=np.int64)
    X = adata.X[:, adata.var_names.get_indexer(list(genes))]
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    return CVData(
        genes=list(genes),
        X_train=X[train],
        y_train=y[train],
        groups_train=adata.obs["group"].astype(str).to_numpy()[train],
        X_test=X[~train],
        y_test=y[~train],
        classes=classes,
        positive=classes.index(str(adata.uns["positive_label"])),
    )


# --- statistics ----------------------------------------------------------------------


def auc_columns(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of every column of ``scores`` (n, B) against the 0/1 vector or columns ``y``.

    Mann-Whitney form with mid-ranks for ties; NaN for a column with one class only.
    """
    scores = np.asarray(scores, dtype=float).reshape(len(scores), -1)
    y = np.asarray(y).astype(bool).reshape(len(scores), -1)
    y = np.broadcast_to(y, scores.shape)
    ranks = rankdata(scores, axis=0)
    n1 = y.sum(axis=0).astype(float)
    n0 = y.shape[0] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
    auc[(n1 == 0) | (n0 == 0)] = np.nan
    return auc


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the 0/1 labels ``y`` (NaN with one class)."""
    if len(y) == 0:
        return float("nan")
    return float(auc_columns(y, np.asarray(score, dtype=float)[:, None])[0])


def balanced_accuracy(y: np.ndarray, score: np.ndarray, threshold: float = 0.5) -> float:
    """Mean of sensitivity and specificity of the prediction ``score > threshold`` (0/1 ``y``).

    NaN without samples; a class without samples is left out of the mean.
    """
    y = np.asarray(y).astype(bool)
    pred = np.asarray(score, dtype=float) > threshold
    recalls = [np.mean(pred[y]) if y.any() else np.nan, np.mean(~pred[~y]) if (~y).any() else np.nan]
    return float(np.nanmean(recalls)) if len(y) else float("nan")


def corrected_t_interval(
    values: Sequence[float], n_train: float, n_test: float, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and Nadeau-Bengio corrected resampled t interval of J fold values, in [0, 1].

    ``mean +- t_{J-1, (1+level)/2} * sqrt((1/J + n_test/n_train) * s^2)`` with ``s^2`` the
    sample variance (ddof 1) of the finite values (Nadeau & Bengio 2003): the
    ``n_test/n_train`` term accounts for the overlap of the training parts of repeated
    K-fold, which makes the fold values positively correlated. Clipped to [0, 1] (the
    metrics are proportions). Fewer than 2 finite values: ``(mean, nan, nan)``.

    Parameters
    ----------
    values
        One metric value per fold (NaN values are dropped).
    n_train, n_test
        Typical (mean) training and held-out sizes of a fold.
    level
        Coverage of the interval.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    var = (1.0 / v.size + float(n_test) / float(n_train)) * float(v.var(ddof=1))
    half = float(sps.t.ppf((1 + level) / 2, df=v.size - 1)) * np.sqrt(var)
    return mean, float(np.clip(mean - half, 0, 1)), float(np.clip(mean + half, 0, 1))


def bootstrap_auc_interval(
    y: np.ndarray, score: np.ndarray, n: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Class-stratified percentile bootstrap interval of the ROC AUC.

    Each replicate draws the positives and the negatives with replacement separately (so
    every replicate keeps both classes at their observed counts, which a small test split
    with a handful of one class needs); the interval is the ``(1 -+ level)/2`` percentiles
    of the replicate AUCs. NaN when ``n`` = 0 or a class is missing.
    """
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    if n <= 0 or pos.size == 0 or neg.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng([seed, 0xB0075])
    idx = np.concatenate(
        [rng.choice(pos, (pos.size, n)), rng.choice(neg, (neg.size, n))], axis=0
    )  # (n_samples, n): one replicate per column
    labels = np.concatenate([np.ones(pos.size, bool), np.zeros(neg.size, bool)])
    aucs = auc_columns(labels, score[idx])
    lo, hi = np.quantile(aucs, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def test_metrics(y01: np.ndarray, score: np.ndarray, n_bootstrap: int, seed: int) -> dict:
    """Test-split AUC, its bootstrap interval, balanced accuracy and class counts."""
    y01 = np.asarray(y01).astype(int)
    low, high = bootstrap_auc_interval(y01, score, n_bootstrap, seed)
    return {
        "test_auc": roc_auc(y01, score),
        "test_auc_low": low,
        "test_auc_high": high,
        "test_balanced_accuracy": balanced_accuracy(y01, score),
        "test_n_positive": int(y01.sum()),
        "test_n_negative": int(len(y01) - y01.sum()),
    }


# --- fold scores -----------------------------------------------------------------------


def mps_fold_probabilities(
    data: CVData,
    folds: Sequence[Fold],
    config: TrainConfig,
    label_sets: Sequence[np.ndarray] | None = None,
    *,
    seed: int = 0,
    workers: int = 1,
) -> list[list[np.ndarray]]:
    """Positive-class probabilities of the held-out samples of every fold, per label set.

    One MPS is trained per fold and label set (:func:`mpsomics.mps.fits.run_fits`, all in
    one job, ``workers`` processes); fold j gets the model seed ``seed + j`` whatever the
    label set, so a permutation differs from the true labels by the labels only.

    Parameters
    ----------
    label_sets
        Class-index label vectors of the training samples (default: the true labels).

    Returns
    -------
    ``out[s][j]``: probabilities of ``folds[j].test`` under label set ``s``.
    """
    from mpsomics.mps.fits import fold_specs, run_fits

    if label_sets is None:
        label_sets = [data.y_train]
    pairs = [(f.train, f.test) for f in folds]
    specs = []
    for s, labels in enumerate(label_sets):
        specs += fold_specs(pairs, seed, labels=labels, prefix=f"s{s}_f")
    X = np.clip(data.X_train, 0.0, 1.0)  # the MPS feature map expects [0, 1] (as `train`)
    cfg = replace(config, checkpoint_every=0, threads=1)
    results = run_fits(
        X, data.y_train, specs, genes=data.genes, classes=data.classes, config=cfg,
        positive=data.positive, observe_every=0, workers=workers, history=False,
    )
    probs = [r.probability for r in results]
    k = len(folds)
    return [probs[s * k : (s + 1) * k] for s in range(len(label_sets))]


def baseline_fold_probabilities(
    name: str,
    X: np.ndarray,
    y01: np.ndarray,
    folds: Sequence[Fold],
    *,
    seed: int = 0,
    n_estimators: int = 100,
) -> list[np.ndarray]:
    """Held-out positive-class probabilities of a baseline (``make_model(name)``) per fold."""
    from threadpoolctl import threadpool_limits

    from mpsomics.omics.baselines import make_model

    out = []
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on tiny folds
        for f in folds:
            y_tr = y01[f.train]
            if len(set(y_tr.tolist())) < 2:  # a permutation may leave one class in a fold
                out.append(np.full(len(f.test), float(y_tr[0])))
                continue
            model = make_model(name, seed, n_estimators).fit(X[f.train], y_tr)
            out.append(model.predict_proba(X[f.test])[:, list(model.classes_).index(1)])
    return out


def _fold_values(folds: Sequence[Fold], y01: np.ndarray, probs: Sequence[np.ndarray]):
    auc = np.array([roc_auc(y01[f.test], p) for f, p in zip(folds, probs, strict=True)])
    bal = np.array([balanced_accuracy(y01[f.test], p) for f, p in zip(folds, probs, strict=True)])
    return auc, bal


def _summary(folds: Sequence[Fold], y01: np.ndarray, probs: Sequence[np.ndarray]) -> dict:
    """Mean, Nadeau-Bengio interval and SD of the fold AUCs and balanced accuracies."""
    auc, bal = _fold_values(folds, y01, probs)
    n_train = float(np.mean([len(f.train) for f in folds]))
    n_test = float(np.mean([len(f.test) for f in folds]))
    out = {}
    for key, v in (("auc", auc), ("balanced_accuracy", bal)):
        mean, low, high = corrected_t_interval(v, n_train, n_test)
        finite = v[np.isfinite(v)]
        out.update({
            f"{key}_mean": mean, f"{key}_low": low, f"{key}_high": high,
            f"{key}_sd": float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
        })
    return out


def permutation_statistic(folds: Sequence[Fold], y01: np.ndarray, probs: Sequence[np.ndarray]) -> float:
    """Mean held-out AUC over ``folds`` (folds with one class held out are skipped)."""
    auc, _ = _fold_values(folds, y01, probs)
    return float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan")


def _null_columns(observed: float, null: np.ndarray, epochs: int | None) -> dict:
    null = np.asarray(null, dtype=float)
    finite = null[np.isfinite(null)]
    return {
        "permutation_p": empirical_p(observed, finite) if finite.size else float("nan"),
        "n_permutations": int(finite.size),
        "permutation_observed": observed if finite.size else float("nan"),
        "permutation_null_median": float(np.median(finite)) if finite.size else float("nan"),
        "permutation_null_q95": float(np.quantile(finite, 0.95)) if finite.size else float("nan"),
        "permutation_epochs": epochs,
    }


# --- the per-community table -----------------------------------------------------------


def cross_validate(
    data: CVData,
    config: TrainConfig,
    *,
    community: str,
    model=None,
    folds: int = 5,
    repeats: int = 2,
    permutations: int = 19,
    permutation_epochs: int = 3,
    forest_permutations: int = 0,
    bootstrap: int = 1000,
    seed: int = 0,
    workers: int = 1,
    n_estimators: int = 100,
) -> pd.DataFrame:
    """The ``mpsomics cv`` table of one community: one row per model of :data:`MODELS`.

    Parameters
    ----------
    data
        :func:`load_cv_data`.
    config
        MPS training settings of the cross-validation fits (``epochs`` sweeps); the
        permutation fits use ``permutation_epochs`` instead.
    community
        Id written in the ``community`` column.
    model
        The trained pipeline classifier (:func:`mpsomics.ttn.classifier.load_classifier`,
        MPS or TTN) evaluated on the test split in the ``mps`` row; None = test columns
        NaN for that row.
    folds, repeats, seed
        :func:`~mpsomics.validation.folds.grouped_folds`.
    permutations
        Label permutations of the null (MPS and logistic regression; 0 = no null).
    forest_permutations
        Label permutations of the random forest's null (0 = none, ``permutation_p`` NaN);
        the first ``forest_permutations`` of the same permutations.
    bootstrap
        Replicates of the test AUC interval.
    workers
        Processes for the MPS fits.

    Returns
    -------
    DataFrame with :data:`COLUMNS`. See the module docstring for every definition.
    """
    from mpsomics.omics.baselines import label_permutations

    y01_train = (data.y_train == data.positive).astype(int)
    y01_test = (data.y_test == data.positive).astype(int)
    fold_list = grouped_folds(data.y_train, data.groups_train, folds, repeats, seed)
    k = len({f.fold for f in fold_list})
    first = [f for f in fold_list if f.repeat == 0]
    perms = (
        label_permutations(data.y_train, data.groups_train, permutations, seed)
        if permutations
        else np.zeros((0, len(data.y_train)), dtype=np.int64)
    )
    base = {
        "community": community, "n_genes": len(data.genes), "n_train": len(data.y_train),
        "n_folds": k, "n_repeats": repeats, "interval_method": INTERVAL_METHOD,
        "n_bootstrap": int(bootstrap), "test_interval_method": TEST_INTERVAL_METHOD,
    }
    rows = []

    # MPS: the full CV and the cheap null (true labels first)
    t0 = time.perf_counter()
    log.info(
        "%s: MPS on %d folds x %d repeats (%d sweeps) + %d x %d permutation fits (%d sweeps)",
        community, k, repeats, config.epochs, permutations + 1 if permutations else 0, k,
        permutation_epochs,
    )
    probs = mps_fold_probabilities(data, fold_list, config, seed=seed, workers=workers)[0]
    row = {**base, "model": "mps", **_summary(fold_list, y01_train, probs)}
    if permutations:
        cheap = replace(config, epochs=int(permutation_epochs))
        sets = mps_fold_probabilities(
            data, first, cheap, [data.y_train, *perms], seed=seed, workers=workers
        )
        stats = [
            permutation_statistic(first, (lab == data.positive).astype(int), p)
            for lab, p in zip([data.y_train, *perms], sets, strict=True)
        ]
        row.update(_null_columns(stats[0], np.asarray(stats[1:]), permutation_epochs))
    else:
        row.update(_null_columns(float("nan"), np.zeros(0), None))
    row.update(_model_test(model, data, y01_test, bootstrap, seed))
    row["seconds"] = time.perf_counter() - t0
    rows.append(row)
    log.info(
        "%s: mps AUC %.3f [%.3f, %.3f], permutation p %.3g (%.1f s)", community,
        row["auc_mean"], row["auc_low"], row["auc_high"], row["permutation_p"], row["seconds"],
    )

    # baselines on the same folds; their null on repeat 0's folds
    for name in BASELINES:
        t0 = time.perf_counter()
        fit = dict(seed=seed, n_estimators=n_estimators)
        probs = baseline_fold_probabilities(name, data.X_train, y01_train, fold_list, **fit)
        row = {**base, "model": name, **_summary(fold_list, y01_train, probs)}
        n_null = permutations if name == "logistic_regression" else min(forest_permutations, permutations)
        if n_null:
            stats = []
            for lab in [data.y_train, *perms[:n_null]]:
                lab01 = (lab == data.positive).astype(int)
                p = baseline_fold_probabilities(name, data.X_train, lab01, first, **fit)
                stats.append(permutation_statistic(first, lab01, p))
            row.update(_null_columns(stats[0], np.asarray(stats[1:]), None))
        else:
            row.update(_null_columns(float("nan"), np.zeros(0), None))
        row.update(_baseline_test(name, data, y01_train, y01_test, bootstrap, seed, n_estimators))
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        log.info(
            "%s: %s AUC %.3f [%.3f, %.3f], permutation p %.3g (%.1f s)", community, name,
            row["auc_mean"], row["auc_low"], row["auc_high"], row["permutation_p"], row["seconds"],
        )
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def _model_test(model, data: CVData, y01_test: np.ndarray, bootstrap: int, seed: int) -> dict:
    """Test-split columns of the trained pipeline classifier (MPS or TTN)."""
    if model is None:  # counts only
        nan = np.full(len(y01_test), np.nan)
        return {"test_model": None, **test_metrics(y01_test, nan, 0, seed),
                "test_auc": float("nan"), "test_balanced_accuracy": float("nan")}
    score = classifier_probability(model, data)
    return {"test_model": _kind(model), **test_metrics(y01_test, score, bootstrap, seed)}


def _kind(model) -> str:
    from mpsomics.ttn.state import TTNState

    return "ttn" if isinstance(model, TTNState) else "mps"


def classifier_probability(model, data: CVData) -> np.ndarray:
    """Born probability of the positive class of every test sample under ``model``.

    The model's genes are taken from ``data`` by name (a TTN stores them in its leaf
    order); values are clipped to [0, 1] as in ``mpsomics train``.

    Raises
    ------
    InputError
        See :func:`check_model`.
    """
    from mpsomics.ttn.classifier import log_scores

    check_model(model, data)
    cols = [data.genes.index(g) for g in model.genes]
    scaled, _ = log_scores(model, np.clip(data.X_test[:, cols], 0.0, 1.0))
    return scaled[:, list(model.classes).index(data.positive_label)] ** 2


def check_model(model, data: CVData) -> None:
    """InputError unless ``model`` was trained on the community's genes and has its positive class."""
    if set(model.genes) != set(data.genes):
        extra = sorted(set(model.genes) ^ set(data.genes))
        raise InputError(
            None,
            f"the model's {len(model.genes)} genes are not the {len(data.genes)} genes of "
            f"--genes (differing: {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''})",
        )
    if data.positive_label not in model.classes:
        raise InputError(
            None, f"model classes {list(model.classes)} lack the positive class {data.positive_label!r}"
        )


def _baseline_test(
    name: str, data: CVData, y01_train: np.ndarray, y01_test: np.ndarray, bootstrap: int,
    seed: int, n_estimators: int,
) -> dict:
    """Test-split columns of a baseline fitted on the whole training split."""
    if len(data.y_test) == 0:
        return {"test_model": name, **test_metrics(y01_test, np.zeros(0), 0, seed)}
    # fit on every training sample, score the test samples: one "fold" across the splits
    # (only the training labels are used for fitting)
    n = len(y01_train)
    whole = Fold(0, 0, np.arange(n), n + np.arange(len(y01_test)))
    X = np.concatenate([data.X_train, data.X_test])
    y = np.concatenate([y01_train, y01_test])
    (score,) = baseline_fold_probabilities(name, X, y, [whole], seed=seed, n_estimators=n_estimators)
    return {"test_model": name, **test_metrics(y01_test, score, bootstrap, seed)}


# --- summary across communities ----------------------------------------------------------

#: Columns of the summary table: :data:`COLUMNS` with ``permutation_q`` after ``permutation_p``.
SUMMARY_COLUMNS: tuple[str, ...] = tuple(
    c for col in COLUMNS for c in ((col, "permutation_q") if col == "permutation_p" else (col,))
)


def summarize(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate per-community ``cv`` tables; add ``permutation_q`` (BH within each model).

    Raises
    ------
    InputError
        A table that is not a ``cv`` table (missing columns, non-numeric p-values, no
        rows), or a community/model pair in more than one row.
    """
    from mpsomics.core.readers import read_tsv
    from mpsomics.validation.stats import bh

    numeric = [c for c in COLUMNS if c.endswith(("_mean", "_low", "_high", "_sd", "_p"))]
    frames = [
        read_tsv(p, required=("community", "model", "permutation_p", "auc_mean"),
                 numeric=numeric, text=("community", "model", "interval_method", "test_model",
                                        "test_interval_method"),
                 complete=("community", "model"), min_rows=1)
        for p in paths
    ]
    out = pd.concat(frames, ignore_index=True, sort=False)
    dup = out.duplicated(["community", "model"])
    if dup.any():
        first = out.loc[dup].iloc[0]
        raise InputError(
            None, f"community {first['community']!r}, model {first['model']!r} appears in more "
            "than one input table",
        )
    out["permutation_q"] = np.nan
    for _, idx in out.groupby("model", sort=False).groups.items():
        out.loc[idx, "permutation_q"] = bh(out.loc[idx, "permutation_p"].to_numpy(dtype=float))
    ordered = [c for c in SUMMARY_COLUMNS if c in out.columns]
    return out[ordered + [c for c in out.columns if c not in ordered]]
