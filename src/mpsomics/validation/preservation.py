"""Module preservation of a gene set's co-expression in another cohort, after WGCNA.

In the manner of WGCNA's ``modulePreservation`` (Langfelder, Luo, Oldham & Horvath 2011,
PLoS Comput Biol 7:e1001057; statistics as in its ``.coreCalcForExpr``): a module found in
a reference data set is *preserved* in a test data set when its genes stay densely
co-expressed there (density) and keep their pattern of connections (connectivity). All
statistics come from Pearson correlation matrices (reference: the TCGA training split's
log values; test: the cohort's log values). The network is unsigned with WGCNA's
adjacency ``|r|^β`` and β = 6 (:data:`BETA`, WGCNA's value for unsigned networks).

Density statistics, in the test data:

- ``mean_sign_aware_cor`` (``meanSignAwareCorDat``): the test correlation of each pair
  times the sign of its reference correlation, averaged over pairs;
- ``mean_adj`` (``meanAdj``): mean adjacency ``|r|^β`` over pairs;
- ``prop_var_explained`` (``propVarExplained``): mean kME² = the first principal
  component's share of the module's variance, λ₁/k of the correlation matrix;
- ``mean_sign_aware_kme`` (``meanSignAwareKME``): |mean of kME_test · sign(kME_ref)|.

Connectivity statistics, reference vs test: the Pearson correlation of the intramodular
connectivities ``kIM_i = Σ_j |r_ij|^β`` (``cor.kIM``), its absolute value for the module
memberships kME (``cor.kME``; kME_i = √λ₁ v₁ᵢ, the correlation of gene i with the first
PC of the standardised data, signed so that the kMEs sum to ≥ 0 — WGCNA aligns the
eigengene with the average expression), and of the pairwise correlations (``cor.cor``).

Each statistic is standardised against size-matched random gene sets drawn from a pool
(WGCNA permutes module labels, which draws such sets): Z = (observed − mean_null) /
sd_null. Z_density = median of the four density Zs, Z_connectivity = median of the three
connectivity Zs, Z_summary = (Z_density + Z_connectivity) / 2 (WGCNA's ``Zsummary.pres``).
Langfelder et al.: Z_summary > 10 strong evidence of preservation, 2–10 weak to moderate,
< 2 none.

Everything is computed from two pool x pool correlation matrices (:func:`correlation`,
once per cohort) and batched over gene sets of one size (:func:`module_statistics_batch`),
so the null of a size is computed once and shared by every set of that size
(:class:`PreservationNull`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: WGCNA's soft-threshold power of an unsigned network (``adjacency = |r|^6``).
BETA = 6
DENSITY = ("mean_sign_aware_cor", "mean_adj", "prop_var_explained", "mean_sign_aware_kme")
CONNECTIVITY = ("cor_kIM", "cor_kME", "cor_cor")
STATISTICS = (*DENSITY, *CONNECTIVITY)
#: Keys of :func:`preservation`'s result besides ``z_<statistic>``.
SUMMARY = ("z_summary", "z_density", "z_connectivity")


def category(z: float) -> str:
    """Langfelder et al.'s words for a Z_summary."""
    if not np.isfinite(z):
        return "not measured"
    return "strong" if z > 10 else "moderate" if z > 2 else "none"


def correlation(values: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of a samples x genes matrix; constant columns 0."""
    x = values - values.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(norm > 0, x / np.where(norm > 0, norm, 1.0), 0.0)
    c = x.T @ x
    np.fill_diagonal(c, 1.0)
    return np.clip(c, -1.0, 1.0)


def _rowcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` (NaN if constant)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        # a constant vector has (numerically) no spread: no correlation is defined
        return np.where(den > 1e-12, (a * b).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def _kme(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(largest eigenvalue, kME) of a stack of correlation matrices, shape (n,), (n, k)."""
    vals, vecs = np.linalg.eigh(corr)
    lam = np.maximum(vals[:, -1], 0.0)
    kme = vecs[:, :, -1] * np.sqrt(lam)[:, None]
    flip = kme.sum(axis=1) < 0  # the eigenvector's sign is arbitrary: align with the mean
    kme[flip] *= -1
    return lam, kme


def module_statistics_batch(
    ref_corr: np.ndarray, test_corr: np.ndarray, sets: np.ndarray, beta: float = BETA
) -> dict[str, np.ndarray]:
    """The seven statistics of ``n`` modules of one size ``k``.

    Parameters
    ----------
    ref_corr, test_corr
        Pool x pool correlation matrices of the reference and the test data.
    sets
        Integer array (n, k), ``k >= 3``: each row the pool indices of one module.
    beta
        Adjacency power (``|r|^beta``).

    Returns
    -------
    dict
        Statistic name (:data:`STATISTICS`) -> array (n,).
    """
    sets = np.atleast_2d(np.asarray(sets, dtype=np.int64))
    k = sets.shape[1]
    rows, cols = sets[:, :, None], sets[:, None, :]
    ref, test = ref_corr[rows, cols], test_corr[rows, cols]
    iu = np.triu_indices(k, 1)
    r_ref, r_test = ref[:, iu[0], iu[1]], test[:, iu[0], iu[1]]
    adj_ref, adj_test = np.abs(ref) ** beta, np.abs(test) ** beta
    eye = np.eye(k, dtype=bool)
    adj_ref[:, eye] = 0.0
    adj_test[:, eye] = 0.0
    _, kme_ref = _kme(ref)
    lam_test, kme_test = _kme(test)
    return {
        "mean_sign_aware_cor": (np.sign(r_ref) * r_test).mean(axis=1),
        "mean_adj": (np.abs(r_test) ** beta).mean(axis=1),
        "prop_var_explained": lam_test / k,
        "mean_sign_aware_kme": np.abs((np.sign(kme_ref) * kme_test).mean(axis=1)),
        "cor_kIM": _rowcorr(adj_ref.sum(axis=2), adj_test.sum(axis=2)),
        "cor_kME": np.abs(_rowcorr(kme_ref, kme_test)),
        "cor_cor": _rowcorr(r_ref, r_test),
    }


def module_statistics(ref: np.ndarray, test: np.ndarray, beta: float = BETA) -> dict[str, float]:
    """The seven statistics of one module from its reference and test correlation submatrices."""
    out = module_statistics_batch(ref, test, np.arange(ref.shape[0])[None, :], beta)
    return {key: float(v[0]) for key, v in out.items()}


def z_scores(observed: dict[str, float], null: dict[str, np.ndarray]) -> dict[str, float]:
    """``z_<statistic>`` of each statistic and the three summaries (see the module docstring).

    A statistic whose null has no spread (or no finite draw) gets a NaN Z and is left out
    of the medians; a summary without any finite Z is NaN.
    """
    out: dict[str, float] = {}
    for key in STATISTICS:
        draws = np.asarray(null[key], dtype=float)
        draws = draws[np.isfinite(draws)]
        sd = draws.std(ddof=1) if draws.size > 1 else 0.0
        obs = observed[key]
        out[f"z_{key}"] = float((obs - draws.mean()) / sd) if sd > 0 and np.isfinite(obs) else np.nan

    def median(keys: Sequence[str]) -> float:
        z = np.array([out[f"z_{k}"] for k in keys])
        return float(np.median(z[np.isfinite(z)])) if np.isfinite(z).any() else np.nan

    out["z_density"], out["z_connectivity"] = median(DENSITY), median(CONNECTIVITY)
    out["z_summary"] = (out["z_density"] + out["z_connectivity"]) / 2
    return out


def not_measured() -> dict[str, float]:
    """A result of NaNs (fewer than 3 genes, no null)."""
    return {**{key: np.nan for key in SUMMARY}, **{f"z_{key}": np.nan for key in STATISTICS}}


def preservation(
    ref_corr: np.ndarray, test_corr: np.ndarray, members: np.ndarray, null_sets: Sequence[np.ndarray],
    beta: float = BETA,
) -> dict[str, float]:
    """Z statistics of the module ``members`` (indices into the pool's correlation matrices).

    Parameters
    ----------
    ref_corr, test_corr
        Pool x pool Pearson correlations in the reference and the test data (NaN = 0).
    members
        Indices of the module's genes in the pool (at least 3).
    null_sets
        Random index sets of the same size (the null).
    beta
        Adjacency power.

    Returns
    -------
    ``z_summary``, ``z_density``, ``z_connectivity`` and ``z_<statistic>`` of each statistic
    (NaN with fewer than 3 genes or a degenerate null).
    """
    members = np.asarray(members)
    if members.size < 3 or not len(null_sets):
        return not_measured()
    observed = module_statistics(ref_corr[np.ix_(members, members)], test_corr[np.ix_(members, members)], beta)
    return z_scores(observed, module_statistics_batch(ref_corr, test_corr, np.asarray(null_sets), beta))


class PreservationNull:
    """The null statistics of each module size, computed once per size and cohort.

    Parameters
    ----------
    ref_corr, test_corr
        Pool x pool correlation matrices (:func:`correlation`).
    beta
        Adjacency power.
    """

    def __init__(self, ref_corr: np.ndarray, test_corr: np.ndarray, beta: float = BETA):
        self.ref_corr, self.test_corr, self.beta = ref_corr, test_corr, beta
        self._null: dict[int, dict[str, np.ndarray]] = {}

    def __call__(self, members: np.ndarray, null_sets: np.ndarray) -> dict[str, float]:
        """:func:`preservation` of ``members`` against ``null_sets`` (all of its size).

        The null of a size is cached: pass the same ``null_sets`` for every module of
        one size.
        """
        members = np.asarray(members, dtype=np.int64)
        k = members.size
        if k < 3 or not len(null_sets):
            return not_measured()
        if k not in self._null:
            self._null[k] = module_statistics_batch(self.ref_corr, self.test_corr, np.asarray(null_sets), self.beta)
        sub = np.ix_(members, members)
        observed = module_statistics(self.ref_corr[sub], self.test_corr[sub], self.beta)
        return z_scores(observed, self._null[k])
