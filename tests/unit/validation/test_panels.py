"""Gene panels by lottery-ticket pruning: mpsomics.validation.panels and `mpsomics panels`.

Planted ground truth: 4 informative sites of 16 (the label shifts their values); the
panel must be those sites and classify as well as the dense MPS.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpsomics.core.errors import InputError
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.sweep import train_sweep
from mpsomics.validation import panels
from mpsomics.validation.crossval import CVData
from mpsomics.validation.stats import jaccard

INFORMATIVE = (2, 5, 9, 13)
CFG = TrainConfig(method="sweep", bond_dim=4, epochs=8, lr=0.05, init_bond_dim=2, seed=0,
                  checkpoint_every=0)


def planted(n_train=120, n_genes=16, informative=INFORMATIVE, seed=0, n_test=40) -> CVData:
    """Uniform noise in [0, 0.7]; the positive class adds 0.3 to the informative genes.
    A few patients contribute two samples (one of each class)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = (rng.random(n) < 0.5).astype(np.int64)
    y[:n_train:10], y[1:n_train:10] = 1, 0  # pairs (0, 1), (10, 11), ... share a patient
    X = rng.random((n, n_genes)) * 0.7
    X[:, list(informative)] += 0.3 * y[:, None]
    groups = np.array([f"p{i - (i % 10 == 1)}" for i in range(n_train)])
    return CVData([f"G{i}" for i in range(n_genes)], X[:n_train], y[:n_train], groups,
                  X[n_train:], y[n_train:], ["normal", "tumor"], 1)


@pytest.fixture(scope="module")
def planted_run():
    data = planted()
    curve, summary = panels.panel_tables(data, CFG, community="cP", folds=3, permutations=3,
                                         permutation_epochs=2, bootstrap=200)
    return data, curve, summary


def test_round_sizes_prune_a_fraction_but_at_least_one_site():
    assert panels.round_sizes(16, 0.2) == [16, 13, 10, 8, 6, 5, 4, 3, 2]
    assert panels.round_sizes(29, 0.2) == [29, 23, 18, 14, 11, 9, 7, 6, 5, 4, 3, 2]
    assert panels.round_sizes(5, 0.01, 3) == [5, 4, 3]
    assert panels.round_sizes(2, 0.5) == [2]


def test_keep_most_important_keeps_site_order_and_earlier_ties():
    np.testing.assert_array_equal(panels.keep_most_important(np.array([0.1, 0.5, 0.1, 0.9]), 3),
                                  [0, 1, 3])


def test_importance_is_largest_for_the_informative_sites():
    data = planted(seed=1)
    X = np.clip(data.X_train, 0, 1)
    state = train_sweep(X, data.y_train, genes=data.genes, classes=data.classes, config=CFG)
    imp = panels.site_importance(state, X, data.y_train)
    assert set(np.argsort(-imp)[:4]) == set(INFORMATIVE)
    # by definition: ablating nothing changes nothing; ablated CE recomputed by hand for one site
    X2 = X.copy()
    X2[:, 5] = X[:, 5].mean()
    want = (panels._balanced_cross_entropy(state, X2, data.y_train)
            - panels._balanced_cross_entropy(state, X, data.y_train))
    assert imp[5] == pytest.approx(want, rel=1e-12)


def test_l1_ranking_finds_the_planted_genes():
    data = planted(seed=2)
    y01 = (data.y_train == 1).astype(int)
    ranking = panels.l1_ranking(data.X_train, y01, [16, 4, 2])
    assert set(ranking[4]) == set(INFORMATIVE)
    assert set(ranking[2]) <= set(INFORMATIVE)
    assert len(ranking[16]) == 16


def test_planted_panel_is_the_informative_sites_and_as_good_as_dense(planted_run):
    data, curve, summary = planted_run
    row = summary.iloc[0]
    assert list(summary.columns) == list(panels.SUMMARY_COLUMNS)
    panel = row["panel_genes"].split(",")
    truth = [data.genes[i] for i in INFORMATIVE]
    assert jaccard(panel, truth) >= 0.8
    assert row["panel_size"] == len(panel) <= 5
    assert row["panel_auc"] >= row["dense_auc"] - 0.01
    assert row["dense_auc"] > 0.9 and row["dense_auc_low"] <= row["dense_auc"] <= row["dense_auc_high"]
    assert jaccard(row["l1_genes"].split(","), truth) >= 0.8
    assert row["overlap_l1"] == pytest.approx(jaccard(panel, row["l1_genes"].split(",")))
    # strong signal: no permutation beats it (p = 1 / (3 + 1))
    assert row["panel_p"] == pytest.approx(0.25) and row["n_permutations"] == 3
    assert 0.8 < row["test_panel_auc"] <= 1 and np.isfinite(row["test_l1_auc_low"])


def test_curve_has_rewind_reinit_and_l1_at_every_size(planted_run):
    data, curve, summary = planted_run
    assert list(curve.columns) == list(panels.CURVE_COLUMNS)
    sizes = panels.round_sizes(16, 0.2)
    for mode in panels.MODES:
        sel = curve[curve["mode"] == mode].sort_values("round")
        assert sel["n_kept"].tolist() == sizes
        assert sel["auc_mean"].between(0, 1).all()
        assert sel["entropy_mean"].notna().all() == (mode != "l1")
    r0 = curve[curve["round"] == 0].set_index("mode")
    assert r0.loc["rewind", "auc_mean"] == r0.loc["reinit", "auc_mean"]  # both start dense
    # the removed genes of the whole-split chain partition the pruned ones
    removed = [g for s in curve.loc[curve["mode"] == "rewind", "genes_removed"] if s
               for g in s.split(",")]
    assert len(removed) == len(set(removed)) == 16 - 2
    panel_round = int(summary["panel_round"].iloc[0])
    kept_at_panel = set(data.genes) - set(
        g for r, s in zip(curve["round"], curve["genes_removed"], strict=True)
        if r <= panel_round and s for g in s.split(","))
    assert kept_at_panel == set(summary["panel_genes"].iloc[0].split(","))


def test_panel_size_rule_takes_the_smallest_size_within_tolerance():
    curve = pd.DataFrame({
        "round": [0, 1, 2, 3], "n_kept": [10, 8, 6, 5], "mode": "rewind",
        "auc_mean": [0.90, 0.95, 0.87, 0.885],
    })
    assert panels.panel_size_from_curve(curve, 0.01) == (1, 8)
    assert panels.panel_size_from_curve(curve, 0.0) == (1, 8)
    # the smallest size on the curve, even past a larger size that misses the bar
    assert panels.panel_size_from_curve(curve, 0.02) == (3, 5)
    assert panels.panel_size_from_curve(curve.assign(auc_mean=[0.9, 0.5, 0.5, 0.5]), 0.01) == (0, 10)


@pytest.mark.parametrize("bad, match", [
    (dict(rate=0.0), "--rate"), (dict(rate=1.0), "--rate"), (dict(min_sites=1), "--min-sites"),
    (dict(tolerance=-0.1), "--tolerance"), (dict(folds=1), "--folds"),
    (dict(permutation_epochs=0), "--permutation-epochs"),
])
def test_bad_options_are_input_errors(bad, match):
    options = dict(folds=3, repeats=1, rate=0.2, min_sites=2, tolerance=0.01, permutations=0,
                   permutation_epochs=1)
    with pytest.raises(InputError, match=match):
        panels.check_options(16, CFG, **{**options, **bad})


def test_gradient_method_and_one_gene_are_input_errors():
    from dataclasses import replace

    options = dict(folds=3, repeats=1, rate=0.2, min_sites=2, tolerance=0.01, permutations=0,
                   permutation_epochs=1)
    with pytest.raises(InputError, match="--method"):
        panels.check_options(16, replace(CFG, method="gradient"), **options)
    with pytest.raises(InputError, match="--validation-fraction"):
        panels.check_options(16, replace(CFG, validation_fraction=0.2), **options)
    with pytest.raises(InputError, match="at least 2 genes"):
        panels.check_options(1, CFG, **options)


def test_summarize_adds_bh_q_and_rejects_duplicates(tmp_path, planted_run):
    _, _, summary = planted_run
    paths = []
    for c, p in (("c1", 0.01), ("c2", 0.04), ("c3", 0.5)):
        path = tmp_path / f"{c}.tsv"
        summary.assign(community=c, panel_p=p).to_csv(path, sep="\t", index=False)
        paths.append(path)
    out = panels.summarize(paths)
    assert out["community"].tolist() == ["c1", "c2", "c3"]
    np.testing.assert_allclose(out["panel_q"], [0.03, 0.06, 0.5])
    assert out.columns.get_loc("panel_q") == out.columns.get_loc("panel_p") + 1
    with pytest.raises(InputError, match="more than one"):
        panels.summarize([paths[0], paths[0]])
    empty = panels.summarize([])
    assert empty.empty and list(empty.columns) == list(out.columns)


def test_command_writes_curve_and_summary(tmp_path, capsys):
    """End to end on a prepared file (by `prepare` itself); --genes with one gene fails."""
    from mpsomics.cli import main
    from mpsomics.omics.prepare import prepare, read_expression, read_sample_sheet

    rng = np.random.default_rng(0)
    n, genes = 90, [f"G{i}" for i in range(6)]
    y = np.arange(n) % 2
    x = 6 + rng.normal(size=(n, 6))
    x[:, [1, 4]] += 2 * y[:, None]
    samples = [f"s{i}" for i in range(n)]
    pd.DataFrame(x.T, index=pd.Index(genes, name="symbol"), columns=samples).to_csv(
        tmp_path / "log.tsv", sep="\t")
    pd.DataFrame({"sample": samples, "label": np.where(y == 1, "tumor", "normal"),
                  "patient": [f"p{i}" for i in range(n)]}).to_csv(tmp_path / "sheet.tsv", sep="\t",
                                                                 index=False)
    adata = prepare(read_expression(tmp_path / "log.tsv"),
                    read_sample_sheet(tmp_path / "sheet.tsv", sample_col="sample",
                                      group_col="patient"),
                    min_expression=0.0, values="log")
    adata.write_h5ad(tmp_path / "expression.h5ad")
    (tmp_path / "c9.txt").write_text("\n".join(genes) + "\n")
    out = tmp_path / "panels"
    base = ["panels", "--expression", str(tmp_path / "expression.h5ad"), "--folds", "3",
            "--permutations", "2", "--permutation-epochs", "1", "--bootstrap", "50",
            "--bond-dim", "2", "--epochs", "3", "--lr", "0.05"]
    assert main([*base, "--genes", str(tmp_path / "c9.txt"), "--out-dir", str(out)]) == 0
    curve = pd.read_csv(out / "c9.tsv", sep="\t")
    summary = pd.read_csv(out / "c9_summary.tsv", sep="\t")
    assert set(curve["mode"]) == {"rewind", "reinit", "l1"}
    assert summary["community"].tolist() == ["c9"] and summary["n_sites"].iloc[0] == 6
    assert set(summary["panel_genes"].iloc[0].split(",")) <= set(genes)
    (out / "other.tsv").write_text("kept\n")  # a shared --out-dir: other files survive a rerun
    assert main([*base, "--genes", str(tmp_path / "c9.txt"), "--out-dir", str(out)]) == 0
    assert (out / "other.tsv").read_text() == "kept\n"
    pd.testing.assert_frame_equal(pd.read_csv(out / "c9.tsv", sep="\t"), curve)
    (tmp_path / "one.txt").write_text("G1\n")
    capsys.readouterr()
    assert main([*base, "--genes", str(tmp_path / "one.txt"), "--out-dir", str(tmp_path / "x")]) != 0
    assert f"{tmp_path / 'one.txt'}: panels need at least 2 genes" in capsys.readouterr().err
    assert main([*base, "--genes", str(tmp_path / "c9.txt"), "--out-dir", str(tmp_path / "x"),
                 "--rate", "1.5"]) != 0
    assert "--rate must be in (0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_two_workers_give_the_same_tables(planted_run):
    """Forked workers and the L1 path are seeded: the tables do not depend on --workers."""
    data, curve, summary = planted_run
    curve2, summary2 = panels.panel_tables(data, CFG, community="cP", folds=3, permutations=3,
                                           permutation_epochs=2, bootstrap=200, workers=2)
    pd.testing.assert_frame_equal(curve, curve2)
    pd.testing.assert_frame_equal(summary.drop(columns="seconds"), summary2.drop(columns="seconds"))
