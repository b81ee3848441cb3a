"""Community selection by the baselines' label-permutation null (``omics.baselines``).

Planted set (issue 12, item 3): 12 co-expression blocks of 30 genes (one latent factor
each, loadings of mixed sign, noise sd 0.6, so within-block |r| ~ 0.7), four of which
carry a moderate label shift (0.32 per gene, signed like the loading) in 8 of their 30
genes; 140 independent noise genes; 150 samples of 125 patients (25 with two samples of
the same label), half positive, patient-grouped 75/25 split. The communities are
detected with the library's defaults (Spearman |r| >= 0.6, hierarchical Leiden).
Measured on data seeds 0-5: all 12 blocks are found as pure communities every time;
Lacalamita's balanced-accuracy >= 0.9 keeps 0-1 of the 4 signal blocks (their best
baseline balanced accuracy 0.78-0.93); the null keeps all 4 every time and one null
block in one seed (that block's factor correlates with the labels by chance, best
balanced accuracy 0.66). Seed 3 is the issue's picture: 0.9 keeps one (0.93), the other
three reach 0.85-0.88.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control
from sklearn.linear_model import Ridge
from sklearn.metrics import roc_auc_score

from mpsomics.core import stats
from mpsomics.omics import baselines, coexpression
from mpsomics.omics import communities as cm

N_BLOCKS, N_SIGNAL_BLOCKS, BLOCK, N_SIGNAL_GENES = 12, 4, 30, 8


def planted(seed: int = 3, delta: float = 0.32, n: int = 150) -> ad.AnnData:
    """``prepare``-format AnnData of the planted set (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_pairs = 25
    n_single = n - 2 * n_pairs
    patient_of = np.concatenate([np.arange(n_single), np.repeat(np.arange(n_single, n_single + n_pairs), 2)])
    n_patients = n_single + n_pairs
    patient_label = np.zeros(n_patients, dtype=int)
    patient_label[rng.permutation(n_patients)[: n_patients // 2]] = 1
    y = patient_label[patient_of]
    cols, names = [], []
    for b in range(N_BLOCKS):
        factor = rng.normal(size=n)
        sign = np.where(rng.random(BLOCK) < 0.2, -1.0, 1.0)
        x = sign[None, :] * factor[:, None] + 0.6 * rng.normal(size=(n, BLOCK))
        if b < N_SIGNAL_BLOCKS:
            x[:, :N_SIGNAL_GENES] += delta * (2 * y[:, None] - 1) * sign[:N_SIGNAL_GENES]
        cols.append(x)
        names += [f"B{b:02d}G{i:02d}" for i in range(BLOCK)]
    cols.append(rng.normal(size=(n, 140)))
    names += [f"N{i:03d}" for i in range(140)]
    log = 5.0 + np.hstack(cols)
    test_patients = rng.permutation(n_patients)[: n_patients // 4]
    split = np.where(np.isin(patient_of, test_patients), "test", "train")
    train = split == "train"
    lo, hi = log[train].min(0), log[train].max(0)
    obs = pd.DataFrame(
        {"label": np.where(y == 1, "tumor", "normal"), "group": [f"P{p:03d}" for p in patient_of], "split": split},
        index=[f"S{i:03d}" for i in range(n)],
    )
    adata = ad.AnnData(np.clip((log - lo) / (hi - lo), 0, 1), obs=obs,
                       var=pd.DataFrame({"scale_min": lo, "scale_max": hi}, index=names))
    adata.layers["log"] = log
    adata.uns["positive_label"] = "tumor"
    adata.uns["classes"] = ["normal", "tumor"]
    return adata


@pytest.fixture(scope="module")
def selection():
    adata = planted()
    graph = coexpression.coexpression_graph(adata, n_genes=adata.n_vars)
    labelled = cm.label_communities(cm.leiden_tree(graph, seed=0))
    comms = {cid: list(c.genes) for cid, c in labelled}
    block = {cid: {g[:3] for g in genes} for cid, genes in comms.items()}
    base = baselines.baseline_table(adata, comms)
    null = baselines.permutation_table(adata, comms, permutations=999)
    return comms, block, base, null


def test_every_planted_block_is_one_community(selection):
    comms, block, _, _ = selection
    assert len(comms) == N_BLOCKS
    assert all(len(b) == 1 for b in block.values())
    found = {next(iter(b)): set(genes) for b, genes in zip(block.values(), comms.values(), strict=True)}
    assert found == {f"B{b:02d}": {f"B{b:02d}G{i:02d}" for i in range(BLOCK)} for b in range(N_BLOCKS)}


def test_fixed_threshold_misses_most_signal_blocks(selection):
    comms, block, base, _ = selection
    name = {cid: next(iter(b)) for cid, b in block.items()}
    signal = {f"B{b:02d}" for b in range(N_SIGNAL_BLOCKS)}
    kept = [name[c] for c in baselines.select(base, min_accuracy=0.9)]
    assert len(kept) == 1 and kept[0] in signal
    best = base.groupby("community")["balanced_accuracy"].max()
    missed = [best[c] for c in comms if name[c] in signal and name[c] not in kept]
    assert len(missed) == 3 and all(0.84 <= v < 0.9 for v in missed)  # close, but below the bar
    assert all(best[c] < 0.7 for c in comms if name[c] not in signal)


def test_permutation_null_keeps_exactly_the_signal_blocks(selection):
    comms, block, base, null = selection
    name = {cid: next(iter(b)) for cid, b in block.items()}
    signal = {f"B{b:02d}" for b in range(N_SIGNAL_BLOCKS)}
    selected, table = baselines.selection_table(base, null, "permutation")
    assert {name[c] for c in selected} == signal
    per = table.drop_duplicates("community").set_index("community")
    assert (per.loc[selected, "permutation_p"] == 1 / 1000).all()
    assert (per.loc[selected, "ridge_auc"] > 0.9).all()
    noise = [c for c in comms if name[c] not in signal]
    assert (per.loc[noise, "permutation_p"] > 0.05).all()
    assert not per.loc[noise, "significant"].any()
    # the null of a signal-free community sits at chance, the observed AUC far above it
    assert per["null_auc_median"].between(0.4, 0.6).all()
    assert (per.loc[selected, "ridge_auc"] > per.loc[selected, "null_auc_q95"] + 0.2).all()
    # best effect first
    assert list(per.loc[selected, "ridge_auc"]) == sorted(per.loc[selected, "ridge_auc"], reverse=True)


def test_null_is_calibrated_on_pure_noise():
    """Signal-free communities: p is uniform (the pooled-AUC null was not: 8-13 % <= 0.05)."""
    ps = []
    for rep in range(150):
        rng = np.random.default_rng(rep)
        n = 120
        patient_of = np.concatenate([np.arange(100), rng.integers(0, 100, n - 100)])
        y = (rng.random(100) < 0.2).astype(int)[patient_of]  # imbalanced, as in tumour/normal
        groups = patient_of.astype(str)
        x = rng.normal(size=n)[:, None] + 0.6 * rng.normal(size=(n, 20))
        splits = baselines.cv_splits(y, groups, 5, rep)
        labels = np.column_stack([y, baselines.label_permutations(y, groups, 99, rep).T])
        auc = baselines.within_fold_auc(baselines.ridge_oof_scores(x, labels, splits), labels, splits)
        ps.append(stats.empirical_p(auc[0], auc[1:]))
    ps = np.asarray(ps)
    assert 0.01 <= np.mean(ps <= 0.05) <= 0.10
    assert 0.05 <= np.mean(ps <= 0.2) <= 0.3
    assert 0.42 <= ps.mean() <= 0.58


def test_label_permutations_respect_patients():
    # 6 one-sample patients (2 positive), 3 two-sample patients: (1, 0), (1, 1), (0, 0)
    groups = np.array(["a", "b", "c", "d", "e", "f", "p", "p", "q", "q", "r", "r"])
    y = np.array([1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0])
    perms = baselines.label_permutations(y, groups, 400, seed=1)
    assert perms.shape == (400, 12)
    assert (perms.sum(axis=1) == y.sum()).all()
    single = perms[:, :6]
    assert (single.sum(axis=1) == 2).all()  # singles only exchange with singles
    pairs = {tuple(sorted(perms[k, i:i + 2])) for k in range(400) for i in (6, 8, 10)}
    assert pairs == {(0, 1), (1, 1), (0, 0)}
    for k in range(400):  # each permutation is a rearrangement of the three pair label sets
        assert sorted(tuple(sorted(perms[k, i:i + 2])) for i in (6, 8, 10)) == [(0, 0), (0, 1), (1, 1)]
    # every one-sample patient is positive sometimes, and both orders of the mixed pair occur
    assert (single.mean(axis=0) > 0.2).all()
    mixed = [tuple(perms[k, i:i + 2]) for k in range(400) for i in (6, 8, 10) if perms[k, i] != perms[k, i + 1]]
    assert {(0, 1), (1, 0)} <= set(mixed)
    assert (baselines.label_permutations(y, groups, 400, seed=1) == perms).all()
    assert not (baselines.label_permutations(y, groups, 400, seed=2) == perms).all()


def test_ridge_scores_are_ridge_fits_and_batch_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) * [1, 2, 3, 1, 1, 5] + 3
    y = (rng.random(40) < 0.4).astype(int)
    splits = baselines.cv_splits(y, np.arange(40).astype(str), 4, 0)
    labels = np.column_stack([y, rng.permutation(y), rng.permutation(y)])
    scores = baselines.ridge_oof_scores(x, labels, splits, alpha=0.5)
    for j in range(3):
        np.testing.assert_allclose(scores[:, j], baselines.ridge_oof_scores(x, labels[:, j], splits, 0.5))
    for tr, va in splits:  # = sklearn Ridge on genes standardised with the training part
        mu, sd = x[tr].mean(0), x[tr].std(0)
        model = Ridge(alpha=0.5 * len(tr)).fit((x[tr] - mu) / sd, y[tr])
        np.testing.assert_allclose(scores[va, 0], model.predict((x[va] - mu) / sd), atol=1e-10)


def test_within_fold_auc():
    rng = np.random.default_rng(1)
    y = (rng.random(60) < 0.3).astype(int)
    s = rng.normal(size=60) + y
    splits = baselines.cv_splits(y, np.arange(60).astype(str), 3, 0)
    w = [sum(y[va]) * sum(1 - y[va]) for _, va in splits]
    expect = np.average([roc_auc_score(y[va], s[va]) for _, va in splits], weights=w)
    assert baselines.within_fold_auc(s, y, splits)[0] == pytest.approx(expect)
    shifted = s.copy()
    for k, (_, va) in enumerate(splits):  # a per-fold offset (intercept) changes nothing
        shifted[va] += 10 * k
    assert baselines.within_fold_auc(shifted, y, splits)[0] == pytest.approx(expect)
    assert roc_auc_score(y, shifted) != pytest.approx(expect)
    assert np.isnan(baselines.within_fold_auc(s, np.zeros(60, int), splits)[0])


def _null_table(rows):
    return pd.DataFrame(rows, columns=["community", "n_genes", "ridge_auc", "permutation_p"]).assign(
        null_auc_median=0.5, null_auc_q95=0.7, n_permutations=999)


def test_select_by_null_bh_cap_fill_and_order():
    table = _null_table([
        ("c01", 30, 0.95, 0.001), ("c02", 20, 0.99, 0.001), ("c03", 40, 0.95, 0.001),
        ("c04", 10, 0.80, 0.004), ("c05", 25, 0.70, 0.03), ("c06", 12, 0.60, 0.2),
        ("c07", 15, 0.62, 0.5), ("c08", 18, np.nan, np.nan),
    ])
    sel, out = baselines.select_by_null(table, fdr=0.05, max_communities=20)
    q = false_discovery_control([0.001, 0.001, 0.001, 0.004, 0.03, 0.2, 0.5], method="bh")
    np.testing.assert_allclose(out["permutation_q"][:7], q)
    assert np.isnan(out["permutation_q"].iloc[7]) and not out["significant"].iloc[7]
    # q: 0.0023 x3, 0.007, 0.042 -> 5 significant; equal AUC: larger first (c03 before c01)
    assert sel == ["c02", "c03", "c01", "c04", "c05"]
    sel, out = baselines.select_by_null(table, fdr=0.05, max_communities=2)
    assert sel == ["c02", "c03"]
    assert out.set_index("community")["selection"].to_dict() == {
        "c01": "over_max", "c02": "significant", "c03": "significant", "c04": "over_max",
        "c05": "over_max", "c06": "not_significant", "c07": "not_significant", "c08": "not_significant"}
    # fill-up: significant first, then the next by effect (c07 0.62 before c06 0.60), flagged
    sel, out = baselines.select_by_null(table, fdr=0.01, max_communities=20, min_communities=6)
    assert sel == ["c02", "c03", "c01", "c04", "c05", "c07"]
    per = out.set_index("community")
    assert per.loc[["c05", "c07"], "selection"].tolist() == ["min_communities"] * 2
    assert not per.loc[["c05", "c07"], "significant"].any() and per.loc[sel, "selected"].all()
    assert baselines.select_by_null(table, 0.01, max_communities=3, min_communities=6)[0] == ["c02", "c03", "c01"]
    # a tiebreak (e.g. baseline balanced accuracy) decides among equal AUC and p
    tb = pd.Series({"c01": 0.99, "c03": 0.90})
    assert baselines.select_by_null(table, 0.05, 2, tiebreak=tb)[0] == ["c02", "c01"]


def test_selection_table_threshold_and_columns():
    rows = []
    for cid, n, lr, rf in [("c01", 40, 0.92, 0.80), ("c02", 30, 0.95, 0.97), ("c03", 20, 0.85, 0.88)]:
        rows += [{"community": cid, "n_genes": n, "model": "logistic_regression", "balanced_accuracy": lr,
                  "sensitivity": 1, "specificity": 1, "roc_auc": 1},
                 {"community": cid, "n_genes": n, "model": "random_forest", "balanced_accuracy": rf,
                  "sensitivity": 1, "specificity": 1, "roc_auc": 1}]
    base = pd.DataFrame(rows)
    null = _null_table([("c01", 40, 0.9, 0.001), ("c02", 30, 0.97, 0.4), ("c03", 20, 0.95, 0.002)])
    sel, table = baselines.selection_table(base, null, "threshold", min_accuracy=0.9, min_communities=3)
    assert list(table.columns) == list(baselines.BASELINE_COLUMNS) and len(table) == 6
    assert sel == ["c02", "c01", "c03"] and sel[:2] == baselines.select(base, 0.9)
    per = table.drop_duplicates("community").set_index("community")
    assert per["selection"].to_dict() == {"c01": "threshold", "c02": "threshold", "c03": "min_communities"}
    assert per["significant"].to_dict() == {"c01": True, "c02": False, "c03": True}  # informative only
    sel, table = baselines.selection_table(base, null, "permutation")
    assert sel == ["c03", "c01"]
    assert table.groupby("community")["selected"].nunique().eq(1).all()  # per community, both rows
    with pytest.raises(ValueError, match="unknown selection method"):
        baselines.selection_table(base, null, "best")


def test_core_stats():
    assert stats.empirical_p(0.9, [0.1, 0.5, 0.95]) == pytest.approx(2 / 4)
    assert stats.empirical_p(0.9, [0.1, np.nan]) == pytest.approx(1 / 2)
    assert stats.empirical_p(0.1, [0.1, 0.5], greater=False) == pytest.approx(2 / 3)
    assert np.isnan(stats.empirical_p(np.nan, [0.1])) and np.isnan(stats.empirical_p(0.5, []))
    p = stats.empirical_p_rows([0.9, 0.2, np.nan], np.array([[0.1, 0.95], [0.3, 0.4], [0.1, 0.2]]))
    np.testing.assert_allclose(p[:2], [2 / 3, 1.0])
    assert np.isnan(p[2])
    np.testing.assert_allclose(stats.bh([0.01, np.nan, 0.04, 0.03]),
                               [0.03, np.nan, 0.04, 0.04], equal_nan=True)
    with pytest.raises(ValueError, match="shape"):
        stats.empirical_p_rows([0.1, 0.2], np.zeros((3, 4)))
