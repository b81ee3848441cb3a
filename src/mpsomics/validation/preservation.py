"""Module preservation of a gene set's co-expression in another cohort, after WGCNA.

In the manner of WGCNA's ``modulePreservation`` (Langfelder, Luo, Oldham & Horvath 2011,
PLoS Comput Biol 7:e1001057): a module found in a reference data set is *preserved* in a
test data set when its genes stay densely co-expressed there (density) and keep their
pattern of connections (connectivity). All statistics come from Pearson correlation
matrices (reference: the TCGA training split's log values; test: the cohort's log values);
the adjacency is unsigned, |r| (WGCNA's power β = 1).

Density statistics (test data): mean sign-aware correlation (the test correlation times
the sign of the reference correlation, averaged over pairs: ``meanSignAwareCorDat``), mean
|r| (``meanAdj``), and the proportion of variance explained by the first principal
component (``propVarExplained``). Connectivity statistics (reference vs test): correlation
of intramodular connectivities Σ_j |r_ij| (``cor.kIM``), of the module-membership
loadings kME (``cor.kME``; kME_i = √λ₁ v₁ᵢ, the correlation of gene i with the first PC,
obtained from the correlation matrix), and of the pairwise correlations (``cor.cor``).

Each statistic is standardised against size-matched random gene sets drawn from a pool
(WGCNA permutes module labels, which draws such sets): Z = (observed − mean_null) /
sd_null. Z_density = median of the density Zs, Z_connectivity = median of the connectivity
Zs, Z_summary = (Z_density + Z_connectivity) / 2. Langfelder et al.: Z_summary > 10 strong
evidence of preservation, 2–10 weak to moderate, < 2 none.
"""

from __future__ import annotations

import numpy as np

DENSITY = ("mean_sign_aware_cor", "mean_abs_cor", "prop_var_explained")
CONNECTIVITY = ("cor_kIM", "cor_kME", "cor_cor")


def category(z: float) -> str:
    """Langfelder et al.'s words for a Z_summary."""
    if not np.isfinite(z):
        return "not measured"
    return "strong" if z > 10 else "moderate" if z > 2 else "none"


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _kme(corr: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(corr)
    v = vecs[:, -1] * np.sqrt(max(vals[-1], 0.0))
    return v if v.sum() >= 0 else -v


def module_statistics(ref: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """The six statistics of one module from its reference and test correlation submatrices."""
    k = ref.shape[0]
    iu = np.triu_indices(k, 1)
    r_ref, r_test = ref[iu], test[iu]
    a_ref, a_test = np.abs(ref), np.abs(test)
    np.fill_diagonal(a_ref, 0.0)
    np.fill_diagonal(a_test, 0.0)
    vals = np.linalg.eigvalsh(test)
    return {
        "mean_sign_aware_cor": float(np.mean(np.sign(r_ref) * r_test)),
        "mean_abs_cor": float(np.mean(np.abs(r_test))),
        "prop_var_explained": float(max(vals[-1], 0.0) / k),
        "cor_kIM": _pearson(a_ref.sum(axis=1), a_test.sum(axis=1)),
        "cor_kME": _pearson(_kme(ref), _kme(test)),
        "cor_cor": _pearson(r_ref, r_test),
    }


def preservation(
    ref_corr: np.ndarray, test_corr: np.ndarray, members: np.ndarray, null_sets: list[np.ndarray]
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

    Returns
    -------
    ``z_summary``, ``z_density``, ``z_connectivity`` and ``z_<statistic>`` of each statistic
    (NaN with fewer than 3 genes or a degenerate null).
    """
    members = np.asarray(members)
    nan = {"z_summary": np.nan, "z_density": np.nan, "z_connectivity": np.nan}
    if members.size < 3 or not null_sets:
        return nan

    def stats(idx):
        sub = np.ix_(idx, idx)
        return module_statistics(ref_corr[sub], test_corr[sub])

    obs = stats(members)
    null = [stats(np.asarray(s)) for s in null_sets]
    out = dict(nan)
    z = {}
    for key in (*DENSITY, *CONNECTIVITY):
        draws = np.array([n[key] for n in null], dtype=float)
        draws = draws[np.isfinite(draws)]
        sd = draws.std(ddof=1) if draws.size > 1 else 0.0
        z[key] = (obs[key] - draws.mean()) / sd if sd > 0 and np.isfinite(obs[key]) else np.nan
        out[f"z_{key}"] = z[key]
    zd = np.nanmedian([z[k] for k in DENSITY]) if any(np.isfinite(z[k]) for k in DENSITY) else np.nan
    zc = (np.nanmedian([z[k] for k in CONNECTIVITY])
          if any(np.isfinite(z[k]) for k in CONNECTIVITY) else np.nan)
    out.update(z_density=float(zd), z_connectivity=float(zc), z_summary=float((zd + zc) / 2))
    return out


def correlation(values: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of a samples x genes matrix; constant columns 0."""
    x = values - values.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(norm > 0, x / np.where(norm > 0, norm, 1.0), 0.0)
    c = x.T @ x
    np.fill_diagonal(c, 1.0)
    return np.clip(c, -1.0, 1.0)
