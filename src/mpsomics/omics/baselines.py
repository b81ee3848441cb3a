"""Classical baselines for a gene community: patient-grouped cross-validation.

For each community, logistic regression (standardised, ``class_weight="balanced"``)
and a random forest (seeded, ``class_weight="balanced"``, ``n_jobs=1``) are
evaluated by stratified, patient-grouped K-fold cross-validation
(:class:`~sklearn.model_selection.StratifiedGroupKFold` on ``obs["group"]``) on the
**train** samples only, using the community's scaled values (``.X``). Metrics come
from the pooled out-of-fold predictions; the positive class is
``uns["positive_label"]``.

The folds depend only on the labels, the groups and the seed, so they are computed
once (:func:`cv_splits`) and shared by all communities.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mpsomics.core.metrics import classification_metrics
from mpsomics.omics.coexpression import train_mask

log = logging.getLogger(__name__)

MODELS: tuple[str, ...] = ("logistic_regression", "random_forest")
METRICS: tuple[str, ...] = ("balanced_accuracy", "sensitivity", "specificity", "roc_auc")

Splits = list[tuple[np.ndarray, np.ndarray]]


def train_labels(adata: ad.AnnData) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels (1 = ``uns['positive_label']``) and groups of the train samples."""
    mask = train_mask(adata)
    labels = adata.obs["label"].astype(str).to_numpy()[mask]
    groups = adata.obs["group"].astype(str).to_numpy()[mask]
    y = (labels == str(adata.uns["positive_label"])).astype(int)
    return y, groups


def cv_splits(y: np.ndarray, groups: np.ndarray, folds: int = 5, seed: int = 0) -> Splits:
    """Stratified patient-grouped folds (indices into the train samples).

    The number of folds is reduced (with a warning) to the number of groups of the
    rarer class when that is smaller, so every validation fold can hold both classes.

    Raises
    ------
    ValueError
        If fewer than two folds are possible.
    """
    y = np.asarray(y)
    groups = np.asarray(groups)
    n_min = min(len(set(groups[y == c])) for c in (0, 1))
    k = min(folds, n_min)
    if k < 2:
        raise ValueError(
            f"need at least 2 patients (groups) per class among the train samples for "
            f"cross-validation, found {n_min}"
        )
    if k < folds:
        log.warning("only %d patients in the rarer class: using %d folds instead of %d", n_min, k, folds)
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, va) for tr, va in cv.split(np.zeros(len(y)), y, groups)]


def make_model(name: str, seed: int = 0, n_estimators: int = 100):
    """An unfitted scikit-learn classifier by name (see :data:`MODELS`)."""
    if name == "logistic_regression":
        return make_pipeline(
            StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000)
        )
    if name == "random_forest":
        return RandomForestClassifier(
            n_estimators=n_estimators,
            class_weight="balanced",
            random_state=seed,
            n_jobs=1,
        )
    raise ValueError(f"unknown model {name!r}; use one of {MODELS}")


def _fold_fit_predict(model, x_tr, y_tr, x_va) -> tuple[np.ndarray, np.ndarray]:
    if len(set(y_tr)) < 2:  # cannot happen with stratified folds, but stay safe
        p = np.full(len(x_va), float(y_tr[0]))
        return p.astype(int), p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on tiny folds
        model.fit(x_tr, y_tr)
        prob = model.predict_proba(x_va)[:, list(model.classes_).index(1)]
    return (prob >= 0.5).astype(int), prob


def evaluate(
    adata: ad.AnnData,
    genes: Sequence[str],
    folds: int = 5,
    seed: int = 0,
    models: Sequence[str] = MODELS,
    n_estimators: int = 100,
    splits: Splits | None = None,
) -> dict[str, dict[str, float]]:
    """Cross-validated baseline metrics of one gene community on the train samples.

    Parameters
    ----------
    adata
        ``prepare`` AnnData; ``.X`` (scaled) of the ``train`` samples is used.
    genes
        The community's genes.
    folds, seed
        Number of :class:`~sklearn.model_selection.StratifiedGroupKFold` folds
        (grouped by ``obs["group"]``) and the seed of the fold shuffle and forest.
    models
        Subset of :data:`MODELS`.
    n_estimators
        Trees of the random forest.
    splits
        Precomputed folds from :func:`cv_splits` (indices into the train samples);
        computed from ``folds`` and ``seed`` if ``None``.

    Returns
    -------
    ``{model: {"balanced_accuracy", "sensitivity", "specificity", "roc_auc"}}`` from
    the pooled out-of-fold predictions (threshold 0.5 on the positive-class
    probability for the class metrics).
    """
    y, groups = train_labels(adata)
    if splits is None:
        splits = cv_splits(y, groups, folds, seed)
    x = adata[:, list(genes)].X
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float)[train_mask(adata)]
    result: dict[str, dict[str, float]] = {}
    for name in models:
        pred = np.zeros(len(y), dtype=int)
        prob = np.zeros(len(y), dtype=float)
        with threadpool_limits(limits=1):  # multi-threaded BLAS only slows tiny fits down
            for tr, va in splits:
                model = make_model(name, seed, n_estimators)
                pred[va], prob[va] = _fold_fit_predict(model, x[tr], y[tr], x[va])
        m = classification_metrics(y, pred, positive=1)
        auc = float(roc_auc_score(y, prob)) if len(set(y)) == 2 else float("nan")
        result[name] = {
            "balanced_accuracy": m["balanced_accuracy"],
            "sensitivity": m["sensitivity"],
            "specificity": m["specificity"],
            "roc_auc": auc,
        }
    return result


def baseline_table(
    adata: ad.AnnData,
    communities: dict[str, Sequence[str]],
    folds: int = 5,
    seed: int = 0,
    models: Sequence[str] = MODELS,
    n_estimators: int = 100,
    threads: int = 1,
):
    """:func:`evaluate` for every community, as a long DataFrame.

    Returns
    -------
    DataFrame with columns ``community, n_genes, model, balanced_accuracy,
    sensitivity, specificity, roc_auc`` (one row per community and model, in the
    order of ``communities`` and ``models``). ``threads > 1`` evaluates
    communities in parallel processes.
    """
    y, groups = train_labels(adata)
    splits = cv_splits(y, groups, folds, seed)
    items = list(communities.items())
    # only the community genes of the train samples are needed (and shipped to workers)
    used = sorted({g for _, genes in items for g in genes})
    mask = train_mask(adata)
    adata = ad.AnnData(
        X=adata[mask, used].X.copy(), obs=adata.obs.loc[mask, ["label", "group", "split"]].copy(),
        var=pd.DataFrame(index=used), uns={"positive_label": adata.uns["positive_label"]},
    )
    # Multi-threaded BLAS on these tiny problems is pure overhead (and contention on
    # a shared machine): ~10x slower than one thread. Parallelism is per community.
    with threadpool_limits(limits=1):
        if threads > 1 and len(items) > 1:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=threads)(
                delayed(evaluate)(adata, g, folds, seed, models, n_estimators, splits)
                for _, g in items
            )
        else:
            results = [evaluate(adata, g, folds, seed, models, n_estimators, splits) for _, g in items]
    rows = [
        {"community": cid, "n_genes": len(g), "model": name, **res[name]}
        for (cid, g), res in zip(items, results, strict=True)
        for name in models
    ]
    return pd.DataFrame(rows, columns=["community", "n_genes", "model", *METRICS])


def select(
    table,
    min_accuracy: float = 0.9,
    max_communities: int = 20,
    model: str = "best",
) -> list[str]:
    """Select communities from a :func:`baseline_table`.

    The score of a community is its balanced accuracy under ``model``
    (``"best"`` = the larger of the models evaluated). Communities with score
    ``>= min_accuracy`` are ranked by score (descending), then size (descending),
    then id, and the first ``max_communities`` are returned, best first.
    """
    rows = table if model == "best" else table[table["model"] == model]
    if rows.empty:
        return []
    score = rows.groupby("community", sort=True).agg(
        score=("balanced_accuracy", "max"), n_genes=("n_genes", "first")
    )
    # equal accuracies reached by different (sensitivity, specificity) pairs may
    # differ in the last bits: round so that ties are broken by size, then id
    score["score"] = score["score"].round(10)
    score = score[score["score"] >= min_accuracy].reset_index()
    score = score.sort_values(
        ["score", "n_genes", "community"], ascending=[False, False, True], kind="stable"
    )
    return score["community"].head(max(0, max_communities)).tolist()
