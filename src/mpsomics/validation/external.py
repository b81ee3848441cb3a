"""External validation of communities and subcommunities in independent cohorts.

For each cohort (:mod:`mpsomics.validation.cohorts`) and each gene set:

- **AUC.** A community is scored by its trained model (MPS or TTN): the Born probability
  of the positive class on the cohort's label-free min–max features. A model gene missing
  in the cohort gets the midpoint 0.5 — its feature map is then the equal superposition
  (cos π/4, sin π/4), so the site carries no information about the sample and the model
  still applies — and is named in the log and in ``missing_genes`` (``n_found`` < ``n_genes``).
  A subcommunity is scored by its **signed mean z-score**: each gene z-scored over the
  cohort's samples, signed by the direction of its mean difference (positive − negative)
  in the TCGA *training* split, averaged over the genes found. AUC with a 95 % percentile
  bootstrap interval (:func:`bootstrap_interval`) that resamples **patients** within strata
  of their class pattern (only positive, only negative, both — a paired tumour/normal
  patient stays together), so every resample keeps the design's class balance; without
  patient groups each sample is its own patient: the ordinary class-stratified bootstrap.
- **Null.** Size-matched random gene sets from the pool (by default every gene of the
  co-expression network, ``pool.txt``; only genes present in the cohort and the reference
  are drawn), scored by the same signed mean z-score with signs from the TCGA training
  split. For a subcommunity, ``null_p`` asks whether its genes separate the cohort better
  than random genes of the network do; for a community, whether the model beats random
  genes with the trivial signed score. +1-corrected empirical p (``auc`` ≥ random AUC
  counts as a hit); ``null_q`` is BH within cohort x kind. The random sets of one size are
  shared by every set of that size (and by the preservation Z).
- **Preservation.** :mod:`mpsomics.validation.preservation` of the set's co-expression
  (reference: TCGA training split) in the cohort, against the same random sets.
- **Method.** ``method`` (last column) is the subcommunity's method (``paper``,
  ``graph``, or the classical ``classical`` / ``top_de`` of
  :mod:`mpsomics.omics.classical`), empty on community rows. Classical sets are scored,
  nulled and tested for preservation exactly as MPS subcommunities (kind
  ``subcommunity``), but ``null_q`` is adjusted within cohort x kind x *family*: MPS
  subcommunities together (as without classical sets), ``classical`` and ``top_de`` each
  on their own, so adding classical sets does not change any MPS number. Random sets
  and bootstrap draws are seeded by size, so a set's row does not depend on the others.
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
    "auc", "auc_low", "auc_high", "null_median_auc", "null_p", "null_q", "n_random_sets", "n_pool",
    "preservation_z", "preservation_z_density", "preservation_z_connectivity", "preservation",
    "missing_genes", "method",
]  # fmt: skip
#: methods of :mod:`mpsomics.omics.classical`: each its own BH family of ``null_q``
CLASSICAL_METHODS = ("classical", "top_de")
#: Feature value of a model gene missing in a cohort: the equal superposition (no information).
NEUTRAL_FEATURE = 0.5


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties count 1/2); NaN with one class or a NaN score."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0 or not np.isfinite(score).all():
        return float("nan")
    r = rankdata(score)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUC of each column of ``scores`` (samples x sets)."""
    y = np.asarray(y).astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    r = rankdata(scores, axis=0)
    return (r[y].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)


def patient_strata(y: np.ndarray, groups: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Samples of each patient and the patients of each class-pattern stratum.

    Returns
    -------
    tuple
        ``(members, strata)``: ``members[g]`` the sample indices of patient ``g``;
        ``strata`` one array of patient indices per class pattern (the set of classes a
        patient's samples have: only negative, only positive, both).
    """
    _, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    pattern = [tuple(sorted(set(np.asarray(y)[m].tolist()))) for m in members]
    strata = [np.array([g for g, p in enumerate(pattern) if p == key]) for key in sorted(set(pattern))]
    return members, strata


def bootstrap_interval(
    y: np.ndarray, score: np.ndarray, groups: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[float, float]:
    """95 % percentile interval of the AUC over ``n`` stratified resamples of the patients.

    Patients are drawn with replacement within each stratum of :func:`patient_strata`, as
    many as the stratum has, and bring all their samples; NaN without replicates.
    """
    if n <= 0:
        return float("nan"), float("nan")
    y, score = np.asarray(y), np.asarray(score, dtype=float)
    members, strata = patient_strata(y, groups)
    values = []
    for _ in range(n):
        drawn = np.concatenate([rng.choice(s, s.size, replace=True) for s in strata])
        idx = np.concatenate([members[g] for g in drawn])
        a = auc(y[idx], score[idx])
        if np.isfinite(a):
            values.append(a)
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def training_signs(log_values: pd.DataFrame, y_train: np.ndarray) -> pd.Series:
    """+1/−1 per gene: direction of the mean difference positive − negative (training split)."""
    y_train = np.asarray(y_train)
    diff = log_values[y_train == 1].mean(axis=0) - log_values[y_train == 0].mean(axis=0)
    return pd.Series(np.where(diff.to_numpy() < 0, -1.0, 1.0), index=log_values.columns)


class CohortValidation:
    """Everything of one cohort that all gene sets share: scaled values, pool, correlations, nulls.

    Parameters
    ----------
    cohort
        The cohort.
    reference, y_reference
        TCGA training-split log values (samples x genes) and their labels (1 = positive).
    pool
        Genes random sets are drawn from (kept: those in the cohort and the reference).
    random_sets, bootstrap, seed
        Random sets per size, bootstrap replicates, seed.

    Raises
    ------
    ValueError
        Fewer than 3 pool genes in the cohort.
    """

    def __init__(self, cohort: Cohort, reference: pd.DataFrame, y_reference: np.ndarray,
                 pool: Sequence[str], random_sets: int = 200, bootstrap: int = 1000, seed: int = 0):
        self.cohort = cohort
        self.random_sets, self.bootstrap, self.seed = int(random_sets), int(bootstrap), int(seed)
        in_cohort = set(cohort.genes)
        self.pool = [g for g in dict.fromkeys(pool) if g in in_cohort and g in reference.columns]
        if len(self.pool) < 3:
            raise ValueError(f"only {len(self.pool)} genes of the random-set pool are in cohort {cohort.name!r}")
        log.info("cohort %s: random sets drawn from %d pool genes present in the cohort", cohort.name, len(self.pool))
        self.index = {g: i for i, g in enumerate(self.pool)}
        self.signs = training_signs(reference, y_reference)
        values = cohort.log.to_numpy(dtype=np.float64)
        self.features = pd.DataFrame(minmax(values), index=cohort.log.index, columns=cohort.log.columns)
        self.z = pd.DataFrame(zscores(values), index=cohort.log.index, columns=cohort.log.columns)
        self.pool_signed = self.z[self.pool].to_numpy() * self.signs[self.pool].to_numpy()
        # the pool's correlation matrices, once per cohort: every module and null set is a submatrix
        self.preservation = pres.PreservationNull(pres.correlation(reference[self.pool].to_numpy()),
                                                  pres.correlation(cohort.log[self.pool].to_numpy()))
        self._null: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def null(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Random index sets (random_sets x ``size``) of pool genes and their signed-score AUCs.

        Drawn once per size (seeded by ``seed`` and ``size``) and shared by every set of that size.
        """
        if size not in self._null:
            rng = np.random.default_rng([self.seed, size, 0x5E7])
            sets = np.array([rng.choice(len(self.pool), size, replace=False) for _ in range(self.random_sets)])
            scores = self.pool_signed[:, sets].mean(axis=2)  # samples x sets
            self._null[size] = (sets, auc_rows(self.cohort.y, scores))
        return self._null[size]

    def signed_score(self, genes: Sequence[str]) -> np.ndarray:
        """Signed mean z-score of ``genes`` (all must be in the cohort and the reference)."""
        genes = list(genes)
        return (self.z[genes].to_numpy() * self.signs[genes].to_numpy()).mean(axis=1)

    def model_probability(self, model, positive: str) -> np.ndarray:
        """Born probability of ``positive`` under an MPS/TTN model; missing genes at :data:`NEUTRAL_FEATURE`."""
        from mpsomics.ttn.classifier import log_scores

        x = np.full((len(self.features), len(model.genes)), NEUTRAL_FEATURE)
        for j, g in enumerate(model.genes):
            if g in self.features.columns:
                x[:, j] = self.features[g].to_numpy()
        scaled, _ = log_scores(model, x)
        return scaled[:, list(model.classes).index(positive)] ** 2

    def row(self, name: str, kind: str, community: str, genes: Sequence[str], model=None,
            method: str = "") -> dict:
        """One summary row for a gene set (a community with its ``model``, or a subcommunity of ``method``)."""
        cohort = self.cohort
        found = [g for g in genes if g in self.z.columns and g in self.signs.index]
        missing = [g for g in genes if g not in found]
        if missing:
            log.warning("cohort %s, %s %s: %d of %d genes missing%s: %s", cohort.name, kind, name,
                        len(missing), len(genes), f" (fed {NEUTRAL_FEATURE} to the model)" if model else "",
                        ", ".join(missing))
        y = cohort.y
        if model is not None:
            score = self.model_probability(model, cohort.positive)
        else:
            score = self.signed_score(found) if found else np.full(len(y), np.nan)
        a = auc(y, score)
        rng = np.random.default_rng([self.seed, len(genes), 0xB007])
        lo, hi = bootstrap_interval(y, score, cohort.groups, self.bootstrap, rng) if np.isfinite(a) else (np.nan,) * 2
        members = np.array([self.index[g] for g in found if g in self.index], dtype=np.int64)
        if members.size:
            sets, null_auc = self.null(min(members.size, len(self.pool)))
            z = self.preservation(members, sets)
        else:
            null_auc, z = np.array([]), pres.not_measured()
        return {
            "cohort": cohort.name, "set": name, "kind": kind, "community": community,
            "n_genes": len(genes), "n_found": len(found), "n_samples": len(y), "n_positive": int(y.sum()),
            "auc": a, "auc_low": lo, "auc_high": hi,
            "null_median_auc": float(np.median(null_auc)) if null_auc.size else np.nan,
            "null_p": empirical_p(a, null_auc) if null_auc.size else np.nan,
            "null_q": np.nan, "n_random_sets": len(null_auc), "n_pool": len(self.pool),
            "preservation_z": z["z_summary"], "preservation_z_density": z["z_density"],
            "preservation_z_connectivity": z["z_connectivity"],
            "preservation": pres.category(z["z_summary"]), "missing_genes": ";".join(missing),
            "method": method,
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
    methods: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The ``validate`` table: one row per cohort x (community | subcommunity), :data:`COLUMNS`.

    Parameters
    ----------
    cohorts
        The loaded cohorts (:func:`~mpsomics.validation.cohorts.load_cohort`).
    reference, y_reference
        TCGA training-split log values (samples x genes) and labels (1 = positive).
    pool
        Genes the random sets are drawn from.
    communities, models
        Community id -> genes, and -> its trained model (a community without a model is
        scored by its signed mean z-score).
    subcommunities
        Subcommunity id -> ``(community, genes)``.
    random_sets, bootstrap, seed
        Null size, bootstrap replicates, seed.
    methods
        Subcommunity id -> its method (the ``method`` column; missing ids get ``""``).
        ``classical`` and ``top_de`` sets form their own BH families (module docstring).
    """
    from threadpoolctl import threadpool_limits

    rows = []
    # many small eigenproblems: BLAS threads only add overhead (and spin on a busy machine)
    with threadpool_limits(limits=1):
        for cohort in cohorts:
            cv = CohortValidation(cohort, reference, y_reference, pool, random_sets, bootstrap, seed)
            for cid, genes in communities.items():
                rows.append(cv.row(cid, "community", cid, genes, models.get(cid)))
            for sid, (cid, genes) in subcommunities.items():
                rows.append(cv.row(sid, "subcommunity", cid, genes, method=(methods or {}).get(sid, "")))
    table = pd.DataFrame(rows, columns=COLUMNS)
    family = table["method"].map(lambda m: m if m in CLASSICAL_METHODS else "")
    for _, part in table.groupby([table["cohort"], table["kind"], family], sort=False):
        table.loc[part.index, "null_q"] = bh(part["null_p"].to_numpy())
    return table
