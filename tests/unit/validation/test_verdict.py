"""Verdicts of the report: thresholds, the external-before-contrast rule, missing evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpsomics.core.errors import InputError
from mpsomics.validation import verdict
from mpsomics.validation.verdict import (
    community_verdicts,
    interval_comparison,
    preservation_category,
    read_cv,
    read_stability,
    read_summary,
    subcommunity_verdicts,
)

NA = np.nan


def _stability(rows):
    cols = ["community", "subcommunity", "method", "n_genes", "jaccard_mean", "jaccard_low", "jaccard_high",
            "n_resamples", "contrast", "contrast_null_p", "contrast_null_q"]
    return pd.DataFrame(rows, columns=cols)


def _summary(rows):
    """rows: (cohort, set, kind, auc, null_q, preservation_z)."""
    out = []
    for cohort, s, kind, auc, q, z in rows:
        out.append({"cohort": cohort, "set": s, "kind": kind, "community": s.split("/")[0], "n_genes": 10,
                    "n_found": 10, "n_samples": 100, "n_positive": 50, "auc": auc, "auc_low": auc - 0.05,
                    "auc_high": min(auc + 0.05, 1.0), "null_p": q, "null_q": q, "preservation_z": z,
                    "preservation_z_density": z, "preservation_z_connectivity": z})
    return pd.DataFrame(out, columns=list(verdict.SUMMARY_COLUMNS))


STAB = _stability([
    # planted discovery: stable, beats its null in cohort B only, strongly preserved in A
    ("c01", "c01/graph1", "graph", 10, 0.90, 0.80, 0.97, 20, 0.5, 0.01, 0.02),
    # stable and preserved, but random gene sets do as well in every cohort: the HCC case
    ("c01", "c01/graph2", "graph", 8, 0.80, 0.70, 0.90, 20, 0.5, 0.001, 0.004),
    # exactly at the Jaccard threshold (stable), significant, preserved at exactly Z = 2 (not > 2)
    ("c02", "c02/graph1", "graph", 6, 0.75, 0.60, 0.85, 20, 0.4, 0.01, 0.03),
    # unstable
    ("c03", "c03/paper1", "paper", 12, 0.40, 0.20, 0.60, 20, 0.3, 0.5, 0.6),
])
SUMMARY = _summary([
    ("A", "c01", "community", 0.99, 0.3, 15.0),
    ("A", "c01/graph1", "subcommunity", 0.97, 0.20, 12.0),
    ("B", "c01/graph1", "subcommunity", 0.95, 0.01, 1.5),
    ("A", "c01/graph2", "subcommunity", 0.96, 0.40, 5.0),
    ("B", "c01/graph2", "subcommunity", 0.97, 0.30, 3.0),
    ("A", "c02/graph1", "subcommunity", 0.90, 0.01, 2.0),
    ("A", "c03/paper1", "subcommunity", 0.99, 0.001, 30.0),
    # only in the summary (no stability row): never a discovery
    ("A", "c09/graph1", "subcommunity", 0.99, 0.001, 30.0),
])


def test_subcommunity_verdicts_apply_each_threshold():
    v = subcommunity_verdicts(STAB, SUMMARY).set_index("subcommunity")
    assert list(v.index) == ["c01/graph1", "c01/graph2", "c02/graph1", "c03/paper1", "c09/graph1"]
    assert "c01" not in v.index  # community rows are not subcommunities
    g1 = v.loc["c01/graph1"]
    assert g1["stable"] and g1["significant"] and g1["preserved"] and g1["discovery"]
    assert g1["best_null_cohort"] == "B" and g1["best_null_q"] == pytest.approx(0.01)
    assert g1["preservation_cohort"] == "A" and g1["max_preservation_z"] == 12.0 and g1["preservation"] == "strong"
    assert g1["n_cohorts"] == 2 and g1["significance_basis"] == "external"
    # random sets do as well everywhere: not significant although its training contrast beats its null
    g2 = v.loc["c01/graph2"]
    assert g2["stable"] and g2["preserved"] and not g2["significant"] and not g2["discovery"]
    assert g2["significant_contrast"] and not g2["significant_external"]
    assert g2["preservation"] == "moderate"
    # boundaries: Jaccard >= 0.75 is stable, Z must exceed 2
    c2 = v.loc["c02/graph1"]
    assert c2["stable"] and c2["significant"] and not c2["preserved"] and not c2["discovery"]
    assert not v.loc["c03/paper1", "stable"] and not v.loc["c03/paper1", "discovery"]
    only = v.loc["c09/graph1"]
    assert pd.isna(only["stable"]) and only["significant"] and only["preserved"] and not only["discovery"]
    assert only["community"] == "c09" and np.isnan(only["jaccard_mean"])
    assert v["discovery"].sum() == 1 and v["discovery"].dtype == bool


def test_thresholds_are_parameters():
    v = subcommunity_verdicts(STAB, SUMMARY, stable_jaccard=0.95, fdr=0.5, preserved_z=10).set_index("subcommunity")
    assert not v.loc["c01/graph1", "stable"]
    assert v.loc["c01/graph2", "significant"]  # q 0.3 < 0.5
    assert not v.loc["c01/graph2", "preserved"]  # 5 <= 10
    v = subcommunity_verdicts(STAB, SUMMARY, preserved_z=1.0).set_index("subcommunity")
    assert v.loc["c02/graph1", "discovery"]
    # q exactly at the FDR is significant
    v = subcommunity_verdicts(STAB, SUMMARY, fdr=0.3).set_index("subcommunity")
    assert v.loc["c01/graph2", "significant"] and v.loc["c01/graph2", "best_null_cohort"] == "B"


def test_contrast_decides_only_without_an_external_auc():
    # a cohort without labels: preservation only (AUC and null missing)
    summary = _summary([("U", "c01/graph1", "subcommunity", NA, NA, 11.0),
                        ("U", "c01/graph2", "subcommunity", NA, NA, 11.0)])
    stab = STAB.copy()
    stab.loc[1, "contrast_null_q"] = 0.2
    v = subcommunity_verdicts(stab, summary).set_index("subcommunity")
    assert v.loc["c01/graph1", "significance_basis"] == "contrast" and v.loc["c01/graph1", "discovery"]
    assert v.loc["c01/graph2", "significance_basis"] == "contrast" and not v.loc["c01/graph2", "significant"]
    assert pd.isna(v.loc["c01/graph1", "significant_external"])


def test_nothing_measured_is_never_a_discovery():
    v = subcommunity_verdicts(STAB.drop(columns=["contrast", "contrast_null_p", "contrast_null_q"]), None)
    assert len(v) == 4 and not v["discovery"].any()
    assert v["significant"].isna().all() and v["preserved"].isna().all() and v["significance_basis"].eq("").all()
    assert list(v["stable"]) == [True, True, True, False]
    assert subcommunity_verdicts(None, None).empty
    assert subcommunity_verdicts(None, SUMMARY)["stable"].isna().all()


def test_preservation_category_follows_langfelder():
    assert [preservation_category(z) for z in (25, 10.5, 10, 2, 1.99, -3)] == [
        "strong", "strong", "moderate", "moderate", "none", "none"]
    assert preservation_category(np.nan) == "" and preservation_category(None) == ""


def _cv(rows):
    """rows: (community, model, auc_mean, auc_low, auc_high, permutation_p)."""
    out = []
    for c, m, mean, lo, hi, p in rows:
        out.append({"community": c, "model": m, "n_genes": 10, "n_folds": 10, "auc_mean": mean, "auc_low": lo,
                    "auc_high": hi, "balanced_accuracy_mean": mean - 0.1, "balanced_accuracy_low": lo - 0.1,
                    "balanced_accuracy_high": hi - 0.1, "permutation_p": p, "n_permutations": 19,
                    "test_auc": mean, "test_auc_low": lo, "test_auc_high": hi, "test_balanced_accuracy": mean,
                    "test_n_positive": 40, "test_n_negative": 5})
    return pd.DataFrame(out, columns=list(verdict.CV_COLUMNS))


CV = _cv([
    ("c01", "mps", 0.95, 0.92, 0.98, 0.01), ("c01", "logistic_regression", 0.80, 0.70, 0.90, NA),
    ("c01", "random_forest", 0.94, 0.90, 0.97, NA),
    ("c02", "mps", 0.60, 0.50, 0.70, 0.40), ("c02", "logistic_regression", 0.85, 0.80, 0.90, NA),
    ("c03", "logistic_regression", 0.85, 0.80, 0.90, 0.01),
])


def test_community_verdicts_compare_intervals_and_the_permutation_null():
    cv = CV.assign(permutation_q=[0.02, NA, NA, 0.4, NA, 0.01])
    v = community_verdicts(cv).set_index("community")
    assert list(v.index) == ["c01", "c02", "c03"]
    assert v.loc["c01", "significant"] and not v.loc["c02", "significant"]
    assert v.loc["c01", "vs_logistic_regression"] == "higher" and v.loc["c01", "vs_random_forest"] == "overlapping"
    assert v.loc["c02", "vs_logistic_regression"] == "lower" and v.loc["c02", "vs_random_forest"] == ""
    # no MPS row: nothing to judge (not "not significant")
    assert pd.isna(v.loc["c03", "significant"]) and v.loc["c03", "vs_logistic_regression"] == ""
    assert v.loc["c01", "logistic_regression_auc_high"] == 0.9
    assert not community_verdicts(cv, fdr=0.01).set_index("community").loc["c01", "significant"]
    # q = fdr passes (<=, as in community selection): 19 permutations (p >= 0.05) can pass at FDR 0.05
    assert community_verdicts(cv.assign(permutation_q=0.05)).set_index("community").loc["c01", "significant"]


def test_interval_comparison():
    assert interval_comparison(0.8, 0.9, 0.5, 0.79) == "higher"
    assert interval_comparison(0.5, 0.79, 0.8, 0.9) == "lower"
    assert interval_comparison(0.5, 0.8, 0.8, 0.9) == "overlapping"
    assert interval_comparison(NA, 0.8, 0.8, 0.9) == ""


def test_readers_check_columns_and_add_permutation_q(tmp_path):
    p = tmp_path / "cv.tsv"
    CV.assign(extra="x").to_csv(p, sep="\t", index=False)  # extra columns are fine
    cv = read_cv(p)
    # BH within each model across communities: mps p = 0.01, 0.40 -> q = 0.02, 0.40
    assert cv.loc[cv["model"] == "mps", "permutation_q"].tolist() == pytest.approx([0.02, 0.40])
    assert cv.loc[cv["model"] == "logistic_regression", "permutation_q"].tolist()[2] == pytest.approx(0.01)
    CV.drop(columns=["auc_low"]).to_csv(p, sep="\t", index=False)
    with pytest.raises(InputError, match=r"cv\.tsv.*missing column\(s\) auc_low"):
        read_cv(p)
    CV.assign(model=["mps", "svm", "mps", "mps", "x", "y"]).to_csv(p, sep="\t", index=False)
    with pytest.raises(InputError, match="unknown model"):
        read_cv(p)
    pd.concat([CV, CV.iloc[:1]]).to_csv(p, sep="\t", index=False)
    with pytest.raises(InputError, match="two rows for community c01, model mps"):
        read_cv(p)

    s = tmp_path / "stability.tsv"
    STAB.to_csv(s, sep="\t", index=False)
    assert read_stability(s)["jaccard_mean"].tolist() == [0.9, 0.8, 0.75, 0.4]
    STAB.drop(columns=["jaccard_mean"]).to_csv(s, sep="\t", index=False)
    with pytest.raises(InputError, match="stability.tsv.*jaccard_mean"):
        read_stability(s)

    m = tmp_path / "summary.tsv"
    SUMMARY.to_csv(m, sep="\t", index=False)
    back = read_summary(m)
    assert len(back) == len(SUMMARY) and back["preservation_z"].dtype == float
    SUMMARY.assign(kind="gene").to_csv(m, sep="\t", index=False)
    with pytest.raises(InputError, match="kind"):
        read_summary(m)
