"""Verdicts of the report: is a community better than chance, is a subcommunity a discovery?

Reads the three tables of the validation stages and turns their numbers into yes/no
answers with stated thresholds, so the report and the closing notes count the same way.

* A **community** *beats the label-permutation null* when the MPS cross-validated AUC
  has a Benjamini–Hochberg ``permutation_q <= fdr`` (BH across communities, within the
  MPS; ``<=`` as for community selection and enrichment, so 19 permutations, whose
  smallest p is 1/20 = 0.05, can pass at FDR 0.05). It is compared with each baseline
  by its 95 % interval: ``higher`` when the MPS interval lies entirely above the
  baseline's, ``lower`` when entirely below, ``overlapping`` otherwise. Non-overlap of two marginal intervals is a conservative
  test (the folds are shared, so the paired difference would be tighter); the table
  has no per-fold values to do better.
* A **subcommunity** is

  - *stable* when its mean best-match Jaccard index across bootstrap resamples of the
    training patients is ``>= stable_jaccard`` (0.75: Hennig 2007, "Cluster-wise
    assessment of cluster stability", where clusters with a mean Jaccard above 0.75 are
    called stable);
  - *significant* when its external AUC beats size-matched random gene sets
    (``null_q <= fdr``) in at least one independent cohort. Only when no cohort gave an
    external AUC (no cohort with labels, or validation not run) does the training-split
    contrast null (``contrast_null_q <= fdr`` of the stability table) decide instead —
    weaker evidence, because the subcommunity was chosen for its contrast on those same
    samples; the column ``significance_basis`` says which one was used
    (``external`` / ``contrast`` / empty when neither was measured). A cohort where
    the AUC is high but random sets do as well therefore does *not* make it significant;
  - *preserved* when its module-preservation ``preservation_z`` (Zsummary) is
    ``> preserved_z`` in at least one cohort (Langfelder et al. 2011: Z > 10 strong,
    2–10 moderate, < 2 no evidence of preservation);
  - a *discovery* when it is all three. A criterion that was not measured is missing
    (``<NA>``), never true, so an unmeasured subcommunity is never a discovery.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.readers import read_tsv
from mpsomics.validation.stats import bh

#: the models of ``cv.tsv``, MPS first
MODELS = ("mps", "logistic_regression", "random_forest")
BASELINES = ("logistic_regression", "random_forest")

#: required columns (the file contracts of the cv-summary, stability-summary and validate stages)
CV_COLUMNS = (
    "community", "model", "n_genes", "n_folds", "auc_mean", "auc_low", "auc_high",
    "balanced_accuracy_mean", "balanced_accuracy_low", "balanced_accuracy_high", "permutation_p",
    "n_permutations", "test_auc", "test_auc_low", "test_auc_high", "test_balanced_accuracy",
    "test_n_positive", "test_n_negative",
)  # fmt: skip
STABILITY_COLUMNS = (
    "community", "subcommunity", "method", "n_genes", "jaccard_mean", "jaccard_low", "jaccard_high",
    "n_resamples",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "cohort", "set", "kind", "community", "n_genes", "n_found", "n_samples", "n_positive", "auc",
    "auc_low", "auc_high", "null_p", "null_q", "preservation_z", "preservation_z_density",
    "preservation_z_connectivity",
)  # fmt: skip
#: optional columns read as numbers when present
_CV_OPTIONAL = ("permutation_q", "n_repeats", "n_train", "permutation_observed", "permutation_null_median",
                "permutation_null_q95", "permutation_epochs", "n_bootstrap")
_CV_TEXT = ("community", "model", "interval_method", "test_model", "test_interval_method")
_STABILITY_OPTIONAL = ("contrast", "contrast_null_p", "contrast_null_q")

#: Langfelder et al. 2011 Zsummary bands
STRONG_Z = 10.0


def _numeric(required: Sequence[str], optional: Sequence[str], text: Sequence[str]) -> tuple[str, ...]:
    return tuple(c for c in (*required, *optional) if c not in text)


def read_cv(path: str | os.PathLike) -> pd.DataFrame:
    """``results/validation/cv.tsv`` (one row per community x model), checked.

    ``permutation_q`` (added by ``cv-summary``) is computed here — BH across the
    communities of each model — when the file lacks it (a single ``cv/{c}.tsv``).
    """
    df = read_tsv(path, CV_COLUMNS, numeric=_numeric(CV_COLUMNS, _CV_OPTIONAL, _CV_TEXT), text=_CV_TEXT,
                  complete=("community", "model"))
    unknown = sorted(set(df["model"]) - set(MODELS))
    if unknown:
        raise InputError(path, f"unknown model(s) {', '.join(unknown)}; expected {', '.join(MODELS)}")
    if df.duplicated(["community", "model"]).any():
        dup = df.loc[df.duplicated(["community", "model"]), ["community", "model"]].iloc[0]
        raise InputError(path, f"two rows for community {dup['community']}, model {dup['model']}")
    if "permutation_q" not in df:
        df["permutation_q"] = np.nan
        for _, idx in df.groupby("model").groups.items():
            df.loc[idx, "permutation_q"] = bh(df.loc[idx, "permutation_p"].to_numpy(dtype=float))
    return df


def read_stability(path: str | os.PathLike) -> pd.DataFrame:
    """``results/validation/stability.tsv`` (one row per subcommunity), checked."""
    text = ("community", "subcommunity", "method")
    df = read_tsv(path, STABILITY_COLUMNS, numeric=_numeric(STABILITY_COLUMNS, _STABILITY_OPTIONAL, text),
                  text=text, complete=("community", "subcommunity"))
    if df["subcommunity"].duplicated().any():
        raise InputError(path, f"subcommunity {df.loc[df['subcommunity'].duplicated(), 'subcommunity'].iloc[0]} "
                               "has two rows")
    return df


def read_summary(path: str | os.PathLike) -> pd.DataFrame:
    """``results/validation/summary.tsv`` (one row per cohort x community or subcommunity), checked."""
    text = ("cohort", "set", "kind", "community")
    df = read_tsv(path, SUMMARY_COLUMNS, numeric=_numeric(SUMMARY_COLUMNS, (), text), text=text,
                  complete=("cohort", "set", "kind"))
    bad = sorted(set(df["kind"]) - {"community", "subcommunity"})
    if bad:
        raise InputError(path, f"column kind has {', '.join(bad)}; expected community or subcommunity")
    return df


def preservation_category(z: float | None) -> str:
    """Langfelder et al. 2011 words for a Zsummary: ``strong`` (> 10), ``moderate`` (2–10), ``none`` (< 2).

    Empty for a missing value.
    """
    if z is None or not np.isfinite(z):
        return ""
    if z > STRONG_Z:
        return "strong"
    return "moderate" if z >= 2.0 else "none"


def _flag(value: float, passes) -> object:
    """``passes(value)`` as a bool, or ``pd.NA`` when ``value`` was not measured."""
    return bool(passes(value)) if np.isfinite(value) else pd.NA


def subcommunity_verdicts(
    stability: pd.DataFrame | None,
    summary: pd.DataFrame | None,
    stable_jaccard: float = 0.75,
    fdr: float = 0.05,
    preserved_z: float = 2.0,
) -> pd.DataFrame:
    """One row per subcommunity: stable, significant, preserved and discovery.

    Parameters
    ----------
    stability
        ``stability.tsv`` (:func:`read_stability`) or ``None``.
    summary
        ``summary.tsv`` (:func:`read_summary`) or ``None``; only ``kind ==
        "subcommunity"`` rows are used.
    stable_jaccard, fdr, preserved_z
        Thresholds (see the module docstring).

    Returns
    -------
    DataFrame
        Columns ``community, subcommunity, n_genes, jaccard_mean, jaccard_low,
        jaccard_high, n_resamples, contrast_null_q, n_cohorts, best_null_q,
        best_null_cohort, max_preservation_z, preservation_cohort, preservation,
        stable, significant_external, significant_contrast, significant,
        significance_basis, preserved, discovery``; stability rows first (in their
        order), then subcommunities found only in the summary. ``stable``,
        ``significant*`` and ``preserved`` are nullable booleans (``<NA>``: not
        measured); ``discovery`` is a plain bool.
    """
    subs = (summary[summary["kind"] == "subcommunity"] if summary is not None
            else pd.DataFrame(columns=list(SUMMARY_COLUMNS)))
    stab = stability if stability is not None else pd.DataFrame(columns=list(STABILITY_COLUMNS))
    ids = list(dict.fromkeys([*map(str, stab["subcommunity"]), *map(str, subs["set"])]))
    stab_by = stab.set_index(stab["subcommunity"].astype(str))
    rows = []
    for sid in ids:
        s = stab_by.loc[sid] if sid in stab_by.index else None
        ext = subs[subs["set"].astype(str) == sid]
        community = (str(s["community"]) if s is not None else
                     str(ext["community"].iloc[0]) if str(ext["community"].iloc[0]) else sid.split("/")[0])
        n_genes = float(s["n_genes"]) if s is not None else float(ext["n_genes"].iloc[0])
        jac = float(s["jaccard_mean"]) if s is not None else np.nan
        contrast_q = float(s["contrast_null_q"]) if s is not None and "contrast_null_q" in s else np.nan
        # external AUC vs its null: the cohorts where both were computed
        tested = ext[np.isfinite(ext["auc"].astype(float)) & np.isfinite(ext["null_q"].astype(float))]
        best = tested.loc[tested["null_q"].astype(float).idxmin()] if len(tested) else None
        best_q = float(best["null_q"]) if best is not None else np.nan
        zs = ext[np.isfinite(ext["preservation_z"].astype(float))]
        zmax = zs.loc[zs["preservation_z"].astype(float).idxmax()] if len(zs) else None
        z = float(zmax["preservation_z"]) if zmax is not None else np.nan
        sig_ext = _flag(best_q, lambda q: q <= fdr)
        sig_con = _flag(contrast_q, lambda q: q <= fdr)
        if sig_ext is not pd.NA:
            significant, basis = sig_ext, "external"
        elif sig_con is not pd.NA:
            significant, basis = sig_con, "contrast"
        else:
            significant, basis = pd.NA, ""
        stable = _flag(jac, lambda j: j >= stable_jaccard)
        preserved = _flag(z, lambda v: v > preserved_z)
        rows.append({
            "community": community, "subcommunity": sid, "n_genes": n_genes,
            "jaccard_mean": jac,
            "jaccard_low": float(s["jaccard_low"]) if s is not None else np.nan,
            "jaccard_high": float(s["jaccard_high"]) if s is not None else np.nan,
            "n_resamples": float(s["n_resamples"]) if s is not None else np.nan,
            "contrast_null_q": contrast_q,
            "n_cohorts": int(ext["cohort"].nunique()),
            "best_null_q": best_q, "best_null_cohort": str(best["cohort"]) if best is not None else "",
            "max_preservation_z": z, "preservation_cohort": str(zmax["cohort"]) if zmax is not None else "",
            "preservation": preservation_category(z),
            "stable": stable, "significant_external": sig_ext, "significant_contrast": sig_con,
            "significant": significant, "significance_basis": basis, "preserved": preserved,
            "discovery": stable is True and significant is True and preserved is True,
        })
    out = pd.DataFrame(rows, columns=[
        "community", "subcommunity", "n_genes", "jaccard_mean", "jaccard_low", "jaccard_high", "n_resamples",
        "contrast_null_q", "n_cohorts", "best_null_q", "best_null_cohort", "max_preservation_z",
        "preservation_cohort", "preservation", "stable", "significant_external", "significant_contrast",
        "significant", "significance_basis", "preserved", "discovery",
    ])
    for col in ("stable", "significant_external", "significant_contrast", "significant", "preserved"):
        out[col] = out[col].astype("boolean")
    out["discovery"] = out["discovery"].astype(bool)
    return out


def interval_comparison(low: float, high: float, other_low: float, other_high: float) -> str:
    """``higher`` / ``lower`` when ``[low, high]`` lies entirely above / below the other interval,
    ``overlapping`` otherwise, empty when an end is missing."""
    ends = np.array([low, high, other_low, other_high], dtype=float)
    if not np.isfinite(ends).all():
        return ""
    if low > other_high:
        return "higher"
    if high < other_low:
        return "lower"
    return "overlapping"


def community_verdicts(cv: pd.DataFrame, fdr: float = 0.05) -> pd.DataFrame:
    """One row per community: does the MPS beat its label-permutation null and the baselines?

    Parameters
    ----------
    cv
        ``cv.tsv`` (:func:`read_cv`), one row per community x model.
    fdr
        BH threshold on the MPS ``permutation_q`` (significant when ``<= fdr``).

    Returns
    -------
    DataFrame
        ``community, auc_mean, auc_low, auc_high, permutation_p, permutation_q,
        significant`` (of the MPS; nullable bool, ``<NA>`` when no MPS row or no
        permutation was run) and, per baseline ``b``, ``b_auc_mean, b_auc_low,
        b_auc_high, vs_b`` (:func:`interval_comparison` of the MPS against ``b``),
        in the order communities first appear.
    """
    rows = []
    for community, d in cv.groupby("community", sort=False):
        by = {str(m): r for m, r in d.set_index("model").iterrows()}
        mps = by.get("mps")
        row: dict[str, object] = {"community": str(community)}
        for col in ("auc_mean", "auc_low", "auc_high", "permutation_p", "permutation_q"):
            row[col] = float(mps[col]) if mps is not None else np.nan
        row["significant"] = _flag(float(row["permutation_q"]), lambda q: q <= fdr)
        for b in BASELINES:
            base = by.get(b)
            for col in ("auc_mean", "auc_low", "auc_high"):
                row[f"{b}_{col}"] = float(base[col]) if base is not None else np.nan
            row[f"vs_{b}"] = interval_comparison(row["auc_low"], row["auc_high"],
                                                 row[f"{b}_auc_low"], row[f"{b}_auc_high"])
        rows.append(row)
    cols = ["community", "auc_mean", "auc_low", "auc_high", "permutation_p", "permutation_q", "significant"]
    cols += [f"{b}_{c}" for b in BASELINES for c in ("auc_mean", "auc_low", "auc_high")] + [f"vs_{b}" for b in BASELINES]
    out = pd.DataFrame(rows, columns=cols)
    out["significant"] = out["significant"].astype("boolean")
    return out


__all__ = [
    "community_verdicts", "interval_comparison", "preservation_category", "read_cv", "read_stability",
    "read_summary", "subcommunity_verdicts",
]  # fmt: skip
