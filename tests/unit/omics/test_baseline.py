"""Tests of the classical baselines (patient-grouped CV) and community selection."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mpsomics.omics import baselines


def make_adata(n_samples: int = 140, n_signal: int = 20, n_random: int = 20, seed: int = 0) -> ad.AnnData:
    """``prepare``-format AnnData: ``SIG*`` genes carry the label, ``RND*`` do not.

    About a third of the patients own two samples (same label), the split is grouped.
    """
    rng = np.random.default_rng(seed)
    n_patients = 100
    patient_of = np.concatenate([np.arange(n_patients), rng.integers(0, n_patients, n_samples - n_patients)])
    patient_label = (rng.random(n_patients) < 0.7).astype(int)  # 70 % positive
    y = patient_label[patient_of]
    sig = rng.normal(size=(n_samples, n_signal)) + 1.5 * y[:, None]
    rnd = rng.normal(size=(n_samples, n_random))
    log = 4.0 + np.hstack([sig, rnd])
    names = [f"SIG{i:02d}" for i in range(n_signal)] + [f"RND{i:02d}" for i in range(n_random)]
    test_patients = rng.permutation(n_patients)[:25]
    split = np.where(np.isin(patient_of, test_patients), "test", "train")
    train = split == "train"
    lo, hi = log[train].min(0), log[train].max(0)
    obs = pd.DataFrame(
        {
            "label": np.where(y == 1, "tumor", "normal"),
            "group": [f"P{p:03d}" for p in patient_of],
            "split": split,
        },
        index=[f"S{i:03d}" for i in range(n_samples)],
    )
    adata = ad.AnnData(
        np.clip((log - lo) / (hi - lo), 0, 1),
        obs=obs,
        var=pd.DataFrame({"scale_min": lo, "scale_max": hi}, index=names),
    )
    adata.layers["log"] = log
    adata.uns["positive_label"] = "tumor"
    adata.uns["classes"] = ["normal", "tumor"]
    return adata


@pytest.fixture(scope="module")
def adata() -> ad.AnnData:
    return make_adata()


SIGNAL = [f"SIG{i:02d}" for i in range(20)]
RANDOM = [f"RND{i:02d}" for i in range(20)]


def test_signal_community_is_accurate(adata):
    res = baselines.evaluate(adata, SIGNAL, folds=5, seed=0, n_estimators=50)
    assert set(res) == {"logistic_regression", "random_forest"}
    for metrics in res.values():
        assert set(metrics) == {"balanced_accuracy", "sensitivity", "specificity", "roc_auc"}
        assert metrics["balanced_accuracy"] > 0.9
        assert metrics["roc_auc"] > 0.95
        assert metrics["sensitivity"] > 0.85 and metrics["specificity"] > 0.85


def test_random_community_is_chance(adata):
    res = baselines.evaluate(adata, RANDOM, folds=5, seed=0, n_estimators=50)
    for metrics in res.values():
        assert 0.3 < metrics["balanced_accuracy"] < 0.7
        assert 0.3 < metrics["roc_auc"] < 0.7


def test_folds_are_patient_grouped_and_stratified(adata):
    y, groups = baselines.train_labels(adata)
    assert len(y) == int((adata.obs["split"] == "train").sum())
    splits = baselines.cv_splits(y, groups, folds=5, seed=0)
    assert len(splits) == 5
    seen = np.concatenate([va for _, va in splits])
    assert sorted(seen) == list(range(len(y)))  # each train sample validated once
    for tr, va in splits:
        assert not set(groups[tr]) & set(groups[va])  # no patient on both sides
        assert set(y[va]) == {0, 1}
    # patients with two samples exist, so grouping matters
    assert pd.Series(groups).value_counts().max() >= 2
    # seeded: same folds again
    again = baselines.cv_splits(y, groups, folds=5, seed=0)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))


def test_folds_reduced_to_rare_class_patients():
    y = np.array([1] * 20 + [0] * 3)
    groups = np.array([f"p{i}" for i in range(23)])
    assert len(baselines.cv_splits(y, groups, folds=5)) == 3
    with pytest.raises(ValueError, match="at least 2 patients"):
        baselines.cv_splits(np.array([1] * 5 + [0]), np.arange(6).astype(str), folds=5)


def test_test_samples_ignored(adata):
    ref = baselines.evaluate(adata, SIGNAL[:5], n_estimators=20)
    other = adata.copy()
    test = (other.obs["split"] == "test").to_numpy()
    other.X[test] = 0.0
    other.obs.loc[test, "label"] = "normal"
    assert baselines.evaluate(other, SIGNAL[:5], n_estimators=20) == ref


def test_deterministic(adata):
    a = baselines.evaluate(adata, RANDOM[:8], seed=3, n_estimators=20)
    b = baselines.evaluate(adata, RANDOM[:8], seed=3, n_estimators=20)
    assert a == b


def test_positive_label_decides_sensitivity(adata):
    flipped = adata.copy()
    flipped.uns["positive_label"] = "normal"
    a = baselines.evaluate(adata, SIGNAL, models=["logistic_regression"])["logistic_regression"]
    b = baselines.evaluate(flipped, SIGNAL, models=["logistic_regression"])["logistic_regression"]
    assert a["sensitivity"] == pytest.approx(b["specificity"], abs=0.05)
    assert a["specificity"] == pytest.approx(b["sensitivity"], abs=0.05)


def test_baseline_table_and_selection(adata):
    comms = {"c01": SIGNAL, "c02": RANDOM, "c03": SIGNAL[:10]}
    table = baselines.baseline_table(adata, comms, n_estimators=20)
    assert list(table.columns) == [
        "community", "n_genes", "model", "balanced_accuracy", "sensitivity", "specificity", "roc_auc",
    ]
    assert len(table) == 6 and table["n_genes"].tolist() == [20, 20, 20, 20, 10, 10]
    sel = baselines.select(table, min_accuracy=0.9, max_communities=20)
    assert "c02" not in sel and sel[0] in {"c01", "c03"} and set(sel) <= {"c01", "c03"}
    assert baselines.select(table, min_accuracy=0.9, max_communities=1) == sel[:1]
    assert baselines.select(table, min_accuracy=1.01) == []


def test_selection_ranking_and_ties():
    rows = []
    for cid, n, lr, rf in [
        ("c01", 40, 0.92, 0.80),
        ("c02", 30, 0.95, 0.97),
        ("c03", 20, 0.92, 0.91),
        ("c04", 45, 0.85, 0.92),
        ("c05", 10, 0.50, 0.60),
        ("c06", 40, 0.92 + 1e-15, 0.5),  # float noise: ties with c01, broken by id
    ]:
        rows += [
            {"community": cid, "n_genes": n, "model": "logistic_regression", "balanced_accuracy": lr},
            {"community": cid, "n_genes": n, "model": "random_forest", "balanced_accuracy": rf},
        ]
    table = pd.DataFrame(rows)
    # best of both models; ties by size (larger first), then id
    assert baselines.select(table, 0.9, 20) == ["c02", "c04", "c01", "c06", "c03"]
    assert baselines.select(table, 0.9, 20, model="logistic_regression") == ["c02", "c01", "c06", "c03"]
    assert baselines.select(table, 0.9, 2) == ["c02", "c04"]
