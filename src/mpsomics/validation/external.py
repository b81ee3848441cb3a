"""External validation of communities and subcommunities in independent cohorts.

For each cohort (:mod:`mpsomics.validation.cohorts`) and each gene set:

- **AUC.** A community is scored by its trained model (MPS or TTN): the Born probability
  of the positive class on the cohort's label-free min–max features; a model gene missing
  in the cohort gets the midpoint 0.5 (its feature map is then an equal superposition: the
  site carries no information) and is named in the log. A subcommunity is scored by its
  **signed mean z-score**: each gene z-scored over the cohort's samples, signed by the
  direction of its mean difference (positive − negative) in the TCGA *training* split,
  averaged over the genes found. AUC with a 95 % percentile bootstrap interval that
  resamples **patients** (all samples of a drawn patient; paired tumour/normal samples stay
  together), skipping draws with one class.
- **Null.** Size-matched random gene sets from the pool (every gene of the co-expression
  network present in the cohort), scored by the same signed mean z-score. For a
  subcommunity, ``null_p`` asks whether its genes separate the cohort better than random
  genes of the network do; for a community, whether the model beats random genes with the
  trivial signed score. +1-corrected empirical p; ``null_q`` is BH within cohort x kind.
- **Preservation.** :func:`mpsomics.validation.preservation.preservation` of the set's
  co-expression (reference: TCGA training split) in the cohort, against the same random
  sets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from mpsomics.validation import preservation as pres
from mpsomics.validation.cohorts import Cohort, minmax, zscores
from mpsomics.validation.stats import bh, empirical_p

log = logging.getLogger(__name__)

COLUMNS = [
    "cohort", "set", "kind", "community", "n_genes", "n_found", "n_samples", "n_positive",
    "auc", "auc_low", "auc_high", "null_median_auc", "null_p", "null_q", "n_random_sets",
    "preservation_z", "preservation_z_density", "preservation_z_connectivity", "preservation",
    "missing_genes",
]


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties count 1/2); NaN with one class."""
    y = np.asarray(y).astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUC of each column of ``scores`` (samples x sets)."""
    y = np.asarray(y).astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    r = rankdata(scores, axis=0)
    return (r[y].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)


def bootstrap_interval(
    y: np.ndarray, score: np.ndarray, groups: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[float, float]:
    """95 % percentile interval of the AUC over ``n`` resamples of the patients."""
    if n <= 0:
        return float("nan"), float("nan")
    uniq, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    values = []
    for _ in range(n):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(uniq), len(uniq))])
        a = auc(y[idx], score[idx])
        if np.isfinite(a):
            values.append(a)
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def training_signs(log_values: pd.DataFrame, y_train: np.ndarray) -> pd.Series:
    """+1/−1 per gene: direction of the mean difference positive − negative (training split)."""
    diff = log_values[y_train == 1].mean(axis=0) - log_values[y_train == 0].mean(axis=0)
    return pd.Series(np.where(diff.to_numpy() < 0, -1.0, 1.0), index=log_values.columns)


class CohortValidation:
    """Everything of one cohort that all gene sets share: scaled values, pool, correlations.

    Parameters
    ----------
    cohort
        The cohort.
    reference
        TCGA training-split log values (samples x genes) and ``y_reference`` its labels.
    pool
        Genes random sets are drawn from (kept: those in the cohort and the reference).
    random_sets, bootstrap, seed
        Null size, bootstrap replicates, seed.
    """

    def __init__(self, cohort: Cohort, reference: pd.DataFrame, y_reference: np.ndarray,
                 pool: Sequence[str], random_sets: int = 200, bootstrap: int = 1000, seed: int = 0):
        self.cohort = cohort
        self.random_sets, self.bootstrap, self.seed = int(random_sets), int(bootstrap), int(seed)
        in_cohort = set(cohort.genes)
        self.pool = [g for g in dict.fromkeys(pool) if g in in_cohort and g in reference.columns]
        if len(self.pool) < 3:
            raise ValueError(f"only {len(self.pool)} pool genes are in cohort {cohort.name!r}")
        self.index = {g: i for i, g in enumerate(self.pool)}
        self.signs = training_signs(reference, y_reference)
        values = cohort.log.to_numpy()
        self.features = pd.DataFrame(minmax(values), index=cohort.log.index, columns=cohort.log.columns)
        self.z = pd.DataFrame(zscores(values), index=cohort.log.index, columns=cohort.log.columns)
        pool_z = self.z[self.pool].to_numpy()
        self.pool_signed = pool_z * self.signs[self.pool].to_numpy()
        self.ref_corr = pres.correlation(reference[self.pool].to_numpy())
        self.test_corr = pres.correlation(cohort.log[self.pool].to_numpy())
        self._null: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}

    def null(self, size: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Random index sets of ``size`` pool genes and their signed-score AUCs (cached per size)."""
        if size not in self._null:
            rng = np.random.default_rng([self.seed, size, 0x5E7])
            sets = [rng.choice(len(self.pool), size, replace=False) for _ in range(self.random_sets)]
            scores = np.column_stack([self.pool_signed[:, s].mean(axis=1) for s in sets])
            self._null[size] = (sets, auc_rows(self.cohort.y, scores))
        return self._null[size]

    def signed_score(self, genes: Sequence[str]) -> np.ndarray:
        """Signed mean z-score of ``genes`` (all must be in the cohort and the reference)."""
        genes = list(genes)
        return (self.z[genes].to_numpy() * self.signs[genes].to_numpy()).mean(axis=1)

    def model_probability(self, model, positive: str) -> np.ndarray:
        """Born probability of ``positive`` under an MPS/TTN model; missing genes at 0.5."""
        from mpsomics.ttn.classifier import log_scores

        x = np.full((len(self.features), len(model.genes)), 0.5)
        for j, g in enumerate(model.genes):
            if g in self.features.columns:
                x[:, j] = self.features[g].to_numpy()
        scaled, _ = log_scores(model, x)
        return scaled[:, list(model.classes).index(positive)] ** 2

    def row(self, name: str, kind: str, community: str, genes: Sequence[str], model=None) -> dict:
        """One summary row for a gene set (a community with its ``model``, or a subcommunity)."""
        cohort = self.cohort
        found = [g for g in genes if g in self.z.columns and g in self.signs.index]
        missing = [g for g in genes if g not in found]
        if missing:
            log.warning("cohort %s, %s %s: %d of %d genes missing: %s", cohort.name, kind, name,
                        len(missing), len(genes), ", ".join(missing))
        y = cohort.y
        score = np.full(len(y), np.nan)
        if model is not None:
            score = self.model_probability(model, cohort.positive)
        elif found:
            score = self.signed_score(found)
        rng = np.random.default_rng([self.seed, len(genes), 0xB007])
        a = auc(y, score) if np.isfinite(score).all() else float("nan")
        lo, hi = bootstrap_interval(y, score, cohort.groups, self.bootstrap, rng) if np.isfinite(a) else (np.nan, np.nan)
        in_pool = np.array([self.index[g] for g in found if g in self.index])
        size = max(len(in_pool), 1)
        sets, null_auc = self.null(min(size, len(self.pool)))
        z = (pres.preservation(self.ref_corr, self.test_corr, in_pool, sets) if len(in_pool) >= 3
             else {"z_summary": np.nan, "z_density": np.nan, "z_connectivity": np.nan})
        return {
            "cohort": cohort.name, "set": name, "kind": kind, "community": community,
            "n_genes": len(genes), "n_found": len(found), "n_samples": len(y), "n_positive": int(y.sum()),
            "auc": a, "auc_low": lo, "auc_high": hi,
            "null_median_auc": float(np.median(null_auc)), "null_p": empirical_p(a, null_auc),
            "null_q": np.nan, "n_random_sets": len(null_auc),
            "preservation_z": z["z_summary"], "preservation_z_density": z["z_density"],
            "preservation_z_connectivity": z["z_connectivity"],
            "preservation": pres.category(z["z_summary"]), "missing_genes": ";".join(missing),
        }


def summary_table(
    cohorts: Sequence[Cohort],
    reference: pd.DataFrame,
    y_reference: np.ndarray,
    pool: Sequence[str],
    communities: Mapping[str, Sequence[str]],
    models: Mapping[str, object],
    subcommunities: Mapping[str, tuple[str, Sequence[str]]],
    random_sets: int = 200,
    bootstrap: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The ``validate`` table: one row per cohort x (community | subcommunity).

    ``subcommunities`` maps a subcommunity id to ``(community, genes)``.
    """
    rows = []
    for cohort in cohorts:
        cv = CohortValidation(cohort, reference, y_reference, pool, random_sets, bootstrap, seed)
        for cid, genes in communities.items():
            rows.append(cv.row(cid, "community", cid, genes, models.get(cid)))
        for sid, (cid, genes) in subcommunities.items():
            rows.append(cv.row(sid, "subcommunity", cid, genes))
    table = pd.DataFrame(rows, columns=COLUMNS)
    for _, part in table.groupby(["cohort", "kind"], sort=False):
        table.loc[part.index, "null_q"] = bh(part["null_p"].to_numpy())
    return table
