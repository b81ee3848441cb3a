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

Selection
---------
Two rules pick the communities that go on to MPS training:

* ``threshold`` (:func:`select`, Lacalamita's rule): baseline balanced accuracy
  ``>= min_accuracy``, best first.
* ``permutation`` (:func:`permutation_table`, :func:`select_by_null`): each community's
  cross-validated discrimination is compared with its own label-permutation null, the
  p-values are BH-adjusted across communities, and those with ``q <= fdr`` are kept,
  ranked by effect. A fixed accuracy bar ignores how hard the contrast is and how many
  genes a community has; the null does not.

The permutation statistic is the out-of-fold ROC AUC of a **ridge (least-squares)
discriminant** on the community's standardised genes, on the same folds as the
baselines, counted over the (positive, negative) pairs *within* each validation fold
(:func:`within_fold_auc`). It is chosen because it is cheap *and* exact for every
permutation at once: its out-of-fold scores are a linear map of the training labels,
``s_va = H_f y_tr`` with ``H_f = 1/n_tr + Z_va (Z_tr'Z_tr + lambda I)^-1 Z_tr'`` (``Z``
standardised on the training part of fold ``f``), so ``H_f`` is computed once per
community and fold and all permutations are one matrix product -- no refit, no
convergence tolerance, no solver noise in the null. With an intercept, the
least-squares direction is that of Fisher's linear discriminant (Hastie et al., ESL
4.3), as powerful as logistic regression for the shifted-mean signals of co-expression
modules (ridge AUC vs logistic-regression AUC on the 54 default communities: r = 0.97);
the ridge term (``lambda = RIDGE_ALPHA * n_tr`` on standardised genes) shrinks it
towards the nearest-centroid direction, which keeps 30-50 strongly correlated genes on
~100 samples well conditioned (alpha 0.1 and 1 are equally powerful on the planted
blocks, 10 loses a third of the AUC above 0.5). AUC is threshold-free, so class
imbalance needs no weighting (which would make ``H_f`` depend on the permuted labels).
A random forest null would cost ~100 forest fits per community and fold.

Why within-fold pairs and not the AUC of the pooled out-of-fold scores: the folds are
stratified on the *observed* labels, a permuted label vector is not stratified on them,
so its training folds differ in class balance, each fold's intercept (its mean label)
moves against the class balance of its validation fold and pooling scores across folds
pushes the null AUC below 0.5 (median 0.45 on the planted blocks). The observed
statistic does not suffer this, so the pooled null is anti-conservative: 8.5 % (balanced
classes) and 13 % (12 % positives) of pure-noise communities reached p <= 0.05 in 200
simulations. Comparing only samples of the same fold removes every per-fold offset: 4 %
and 7 % (binomial sd 1.5-1.8 %), mean p 0.52 / 0.49, as recomputing stratified folds
for every permutation (5 % / 6.5 %) at a hundredth of its cost.

How labels are permuted (:func:`label_permutations`): patients (``obs["group"]``) are
exchangeable blocks. Patients with the same number of training samples exchange their
whole label vectors, and the labels are shuffled within each patient: a patient with a
tumour and a normal sample keeps one of each, a one-sample patient stays a one-sample
patient, the class counts are unchanged, and no permutation moves a label between
samples of one patient in a way the grouped folds could exploit ("whole-block" plus
"within-block" exchangeability, Winkler et al. 2014, NeuroImage 92:381). The folds are
those of the observed labels (identical folds); the same permutations serve every
community.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mpsomics.core.metrics import classification_metrics
from mpsomics.core.stats import bh, empirical_p_rows, label_permutations
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


# --- selection by the label-permutation null ------------------------------------------

#: Ridge penalty of the permutation statistic, per training sample on standardised genes.
RIDGE_ALPHA: float = 1.0

NULL_COLUMNS: tuple[str, ...] = (
    "community", "n_genes", "ridge_auc", "null_auc_median", "null_auc_q95",
    "permutation_p", "n_permutations",
)


def ridge_oof_scores(x: np.ndarray, labels: np.ndarray, splits: Splits, alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """Out-of-fold ridge discriminant scores of one or many label vectors on fixed folds.

    Parameters
    ----------
    x
        Samples x genes (the train samples).
    labels
        ``(n,)`` or ``(n, B)``: 0/1 labels, one column per label vector.
    splits
        Folds (indices into the rows of ``x``).
    alpha
        Ridge penalty per training sample: ``lambda = alpha * n_tr`` on genes
        standardised with the training part of each fold.

    Returns
    -------
    Scores of the shape of ``labels``: each sample scored by the model fitted on the
    folds that do not contain it (``s_va = H_f y_tr``, see the module docstring).
    """
    x = np.asarray(x, dtype=float)
    lab = np.asarray(labels, dtype=float)
    one = lab.ndim == 1
    lab = lab.reshape(len(lab), -1)
    scores = np.zeros_like(lab)
    for tr, va in splits:
        mu = x[tr].mean(axis=0)
        sd = x[tr].std(axis=0)
        sd[sd <= 1e-12] = 1.0  # a gene constant in the fold carries nothing: keep it at 0
        z_tr = (x[tr] - mu) / sd
        z_va = (x[va] - mu) / sd
        gram = z_tr.T @ z_tr + alpha * len(tr) * np.eye(x.shape[1])
        # centred training labels: the intercept is the mean label of the fold
        w = np.linalg.solve(gram, z_tr.T @ (lab[tr] - lab[tr].mean(axis=0)))
        scores[va] = lab[tr].mean(axis=0) + z_va @ w
    return scores[:, 0] if one else scores


def within_fold_auc(scores: np.ndarray, labels: np.ndarray, splits: Splits) -> np.ndarray:
    """AUC over the (positive, negative) pairs of samples in the same validation fold.

    The weighted mean of the folds' AUCs (weights ``n_pos * n_neg`` of each fold) for
    every column of ``scores`` (n, B) and ``labels`` (n, B): a per-fold shift of the
    scores (the fold's intercept) cannot change it. A fold holding one class only
    contributes no pair; NaN for a column without any pair.
    """
    scores = np.asarray(scores, dtype=float).reshape(len(scores), -1)
    labels = np.asarray(labels).reshape(len(labels), -1).astype(bool)
    num = np.zeros(scores.shape[1])
    den = np.zeros(scores.shape[1])
    for _, va in splits:
        lab = labels[va]
        n1 = lab.sum(axis=0).astype(float)
        n0 = len(va) - n1
        num += (rankdata(scores[va], axis=0) * lab).sum(axis=0) - n1 * (n1 + 1) / 2
        den += n1 * n0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _null_row(x: np.ndarray, labels: np.ndarray, splits: Splits, alpha: float) -> tuple[float, np.ndarray]:
    """Observed ridge AUC (column 0 of ``labels``) and its null (the other columns)."""
    auc = within_fold_auc(ridge_oof_scores(x, labels, splits, alpha), labels, splits)
    return float(auc[0]), auc[1:]


def permutation_table(
    adata: ad.AnnData,
    communities: dict[str, Sequence[str]],
    permutations: int = 999,
    folds: int = 5,
    seed: int = 0,
    alpha: float = RIDGE_ALPHA,
    splits: Splits | None = None,
) -> pd.DataFrame:
    """Ridge out-of-fold AUC of every community and its label-permutation null.

    Parameters
    ----------
    adata
        ``prepare`` AnnData; ``.X`` of the ``train`` samples is used.
    communities
        ``{id: genes}``.
    permutations
        Label permutations (:func:`label_permutations`, seeded with ``seed``); the
        same permutations serve every community. The smallest p is
        ``1 / (permutations + 1)``; when ``k`` of ``m`` communities reach it, BH gives
        them ``q = m / (k (permutations + 1))``: with 99 permutations a single strong
        community among 6 gets q = 0.06 and fails FDR 0.05, with 999 it gets 0.006.
    folds, seed, splits
        As in :func:`evaluate` (the baselines' folds: identical for all permutations).
    alpha
        Ridge penalty (:func:`ridge_oof_scores`).

    Returns
    -------
    DataFrame with columns :data:`NULL_COLUMNS`, one row per community in the order
    given: ``ridge_auc`` (observed, :func:`within_fold_auc` of the ridge scores), the median and 95th percentile of the null AUCs,
    ``permutation_p`` (+1 corrected, :func:`mpsomics.core.stats.empirical_p_rows`) and
    ``n_permutations``.
    """
    y, groups = train_labels(adata)
    if splits is None:
        splits = cv_splits(y, groups, folds, seed)
    labels = np.column_stack([y, label_permutations(y, groups, permutations, seed).T])
    mask = train_mask(adata)
    observed, nulls, sizes = [], [], []
    with threadpool_limits(limits=1):  # tiny dense algebra: threads only add overhead
        for genes in communities.values():
            x = adata[:, list(genes)].X
            x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float)[mask]
            obs, null = _null_row(x, labels, splits, alpha)
            observed.append(obs)
            nulls.append(null)
            sizes.append(len(genes))
    null = np.vstack(nulls) if nulls else np.zeros((0, permutations))
    empty = null.shape[1] == 0
    table = pd.DataFrame({
        "community": list(communities),
        "n_genes": sizes,
        "ridge_auc": observed,
        "null_auc_median": np.nan if empty else np.median(null, axis=1),
        "null_auc_q95": np.nan if empty else np.quantile(null, 0.95, axis=1),
        "permutation_p": np.nan if empty else empirical_p_rows(np.asarray(observed), null),
        "n_permutations": permutations,
    })
    return table[list(NULL_COLUMNS)]


def _best_score(table: pd.DataFrame, model: str = "best") -> pd.Series:
    """Balanced accuracy of each community under ``model`` (``best`` = max over models)."""
    rows = table if model == "best" else table[table["model"] == model]
    # equal accuracies reached by different (sensitivity, specificity) pairs may differ
    # in the last bits: round, so that ties are broken by the next key
    return rows.groupby("community", sort=True)["balanced_accuracy"].max().round(10)


def _fill(ranked: list[str], chosen: list[str], min_communities: int, cap: int) -> list[str]:
    """The next communities of ``ranked`` (not in ``chosen``) up to ``min(min_communities, cap)``."""
    want = min(min_communities, cap) - len(chosen)
    return [c for c in ranked if c not in set(chosen)][: max(0, want)]


def select_by_null(
    table: pd.DataFrame,
    fdr: float = 0.05,
    max_communities: int = 20,
    min_communities: int = 0,
    tiebreak: pd.Series | None = None,
) -> tuple[list[str], pd.DataFrame]:
    """Communities whose ridge AUC beats its permutation null, best effect first.

    Parameters
    ----------
    table
        From :func:`permutation_table`.
    fdr
        A community is ``significant`` when its ``permutation_q`` (BH adjustment of
        ``permutation_p`` across all communities of ``table``) is ``<= fdr``.
    max_communities
        At most this many are selected.
    min_communities
        When fewer are significant, the next best by effect fill the selection up to
        this many (never beyond ``max_communities``), with ``selection =
        "min_communities"`` and ``significant = False``: exploratory, not discoveries.
    tiebreak
        Optional secondary score per community id (larger first), e.g. the best
        baseline balanced accuracy: equal AUCs are common when many communities
        separate the classes almost perfectly.

    Returns
    -------
    The selected ids (significant ones first, each part by effect) and ``table`` with
    ``permutation_q``, ``significant``, ``selected`` and ``selection`` (``significant`` |
    ``min_communities`` | ``over_max`` (significant, beyond the cap) |
    ``not_significant``) added. Ranking: ``ridge_auc`` descending, then p ascending,
    ``tiebreak`` descending, size descending, id.
    """
    out = table.copy()
    out["permutation_q"] = bh(out["permutation_p"].to_numpy(dtype=float))
    out["significant"] = (out["permutation_q"] <= fdr).to_numpy(dtype=bool)
    tb = (out["community"].map(tiebreak) if tiebreak is not None else pd.Series(0.0, index=out.index))
    rank = out.assign(_auc=out["ridge_auc"].round(10).fillna(-np.inf),
                      _p=out["permutation_p"].fillna(np.inf), _tb=tb.astype(float).fillna(-np.inf))
    rank = rank.sort_values(["_auc", "_p", "_tb", "n_genes", "community"],
                            ascending=[False, True, False, False, True], kind="stable")
    cap = max(0, max_communities)
    sig = rank.loc[rank["significant"], "community"].tolist()
    chosen = sig[:cap]
    fill = _fill(rank["community"].tolist(), chosen, min_communities, cap)
    reason = {c: "significant" for c in chosen} | {c: "over_max" for c in sig[cap:]}
    reason |= {c: "min_communities" for c in fill}
    out["selection"] = [reason.get(c, "not_significant") for c in out["community"]]
    out["selected"] = out["community"].isin(chosen + fill).to_numpy(dtype=bool)
    return chosen + fill, out


def select_by_threshold(
    base: pd.DataFrame,
    min_accuracy: float = 0.9,
    max_communities: int = 20,
    min_communities: int = 0,
    model: str = "best",
) -> tuple[list[str], pd.DataFrame]:
    """Lacalamita's rule (:func:`select`) with the bookkeeping of :func:`select_by_null`.

    Returns
    -------
    The selected ids and one row per community: ``community``, ``selected``,
    ``selection`` (``threshold`` | ``min_communities`` (below the bar, filled up to
    ``min_communities`` by balanced accuracy) | ``over_max`` | ``below_threshold``).
    """
    chosen = select(base, min_accuracy, max_communities, model)
    passing = select(base, min_accuracy, len(base), model)
    ranked = select(base, -np.inf, len(base), model)
    fill = _fill(ranked, chosen, min_communities, max(0, max_communities))
    reason = {c: "over_max" for c in passing} | {c: "threshold" for c in chosen}
    reason |= {c: "min_communities" for c in fill}
    ids = list(dict.fromkeys(base["community"]))
    out = pd.DataFrame({"community": ids,
                        "selection": [reason.get(c, "below_threshold") for c in ids]})
    out["selected"] = out["community"].isin(chosen + fill).to_numpy(dtype=bool)
    return chosen + fill, out


#: Columns of ``baseline.tsv`` (``mpsomics communities``), in order.
BASELINE_COLUMNS: tuple[str, ...] = (
    "community", "n_genes", "model", *METRICS, "ridge_auc", "null_auc_median", "null_auc_q95",
    "permutation_p", "permutation_q", "n_permutations", "significant", "selected", "selection",
)


def selection_table(
    base: pd.DataFrame,
    null: pd.DataFrame,
    method: str = "permutation",
    *,
    min_accuracy: float = 0.9,
    fdr: float = 0.05,
    max_communities: int = 20,
    min_communities: int = 0,
    model: str = "best",
) -> tuple[list[str], pd.DataFrame]:
    """Select communities and merge baselines, null and selection into one long table.

    Parameters
    ----------
    base
        :func:`baseline_table`.
    null
        :func:`permutation_table` of the same communities (its p-values may be NaN
        with ``method="threshold"``, e.g. without permutations).
    method
        ``"permutation"`` (:func:`select_by_null`, ties broken by the best baseline
        balanced accuracy) or ``"threshold"`` (:func:`select_by_threshold` on
        ``model``'s balanced accuracy).

    Returns
    -------
    The selected ids, best first, and the ``baseline.tsv`` table
    (:data:`BASELINE_COLUMNS`, one row per community and model). ``permutation_q`` and
    ``significant`` are filled with both methods.
    """
    if method == "permutation":
        selected, sel = select_by_null(null, fdr, max_communities, min_communities,
                                       tiebreak=_best_score(base, model))
    elif method == "threshold":
        selected, sel = select_by_threshold(base, min_accuracy, max_communities, min_communities, model)
        q = select_by_null(null, fdr, max_communities)[1]
        sel = q.drop(columns=["selected", "selection"]).merge(sel, on="community", how="left")
    else:
        raise ValueError(f"unknown selection method {method!r}; use 'permutation' or 'threshold'")
    cols = [c for c in sel.columns if c != "n_genes"]
    table = base.merge(sel[cols], on="community", how="left", validate="many_to_one")
    return selected, table[list(BASELINE_COLUMNS)]
