"""Tests of the ``communities`` stage: network, hierarchical Leiden, CLI outputs."""

from __future__ import annotations

import logging

import anndata as ad
import igraph as ig
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from mpsomics import cli
from mpsomics.commands import communities as command
from mpsomics.core.errors import InputError
from mpsomics.omics import coexpression
from mpsomics.omics import communities as cm

MODULES = (15, 18, 20, 22, 25, 30)


def make_adata(
    n_samples: int = 120,
    modules: tuple[int, ...] = MODULES,
    n_noise: int = 60,
    signal_modules: tuple[int, ...] = (0,),
    noise_sd: float = 0.5,
    seed: int = 0,
) -> ad.AnnData:
    """Synthetic ``prepare``-format AnnData with planted co-expression modules.

    Module ``m`` genes are ``factor_m + noise`` (within-module r ~ 0.8); modules in
    ``signal_modules`` have their factor shifted by the label; background genes are
    pure noise. Patients (``group``) own one or two samples; the split is grouped
    (~75 % train) and ``.X`` is min-max scaled on the train samples.
    """
    rng = np.random.default_rng(seed)
    n_patients = int(n_samples * 0.8)
    patient_of = np.concatenate([np.arange(n_patients), rng.integers(0, n_patients, n_samples - n_patients)])
    rng.shuffle(patient_of)
    y = (rng.random(n_samples) < 0.6).astype(int)
    cols, names, module_of = [], [], []
    for m, size in enumerate(modules):
        factor = rng.normal(size=n_samples) + (4.0 * y if m in signal_modules else 0.0)
        for j in range(size):
            cols.append(factor + rng.normal(scale=noise_sd, size=n_samples))
            names.append(f"M{m}_{j:02d}")
            module_of.append(m)
    for j in range(n_noise):
        cols.append(rng.normal(size=n_samples))
        names.append(f"N_{j:03d}")
        module_of.append(-1)
    log = 5.0 + np.column_stack(cols)
    test_patients = rng.permutation(n_patients)[: n_patients // 4]
    split = np.where(np.isin(patient_of, test_patients), "test", "train")
    train = split == "train"
    lo, hi = log[train].min(0), log[train].max(0)
    x = np.clip((log - lo) / (hi - lo), 0.0, 1.0)
    obs = pd.DataFrame(
        {
            "label": np.where(y == 1, "tumor", "normal"),
            "group": [f"P{p:03d}" for p in patient_of],
            "split": split,
        },
        index=[f"S{i:03d}" for i in range(n_samples)],
    )
    var = pd.DataFrame({"scale_min": lo, "scale_max": hi, "module": module_of}, index=names)
    adata = ad.AnnData(x, obs=obs, var=var)
    adata.layers["log"] = log
    adata.uns["positive_label"] = "tumor"
    adata.uns["classes"] = ["normal", "tumor"]
    return adata


@pytest.fixture(scope="module")
def adata() -> ad.AnnData:
    return make_adata()


# ---------------------------------------------------------------- network


def test_graph_genes_weights_and_threshold(adata):
    g = coexpression.coexpression_graph(adata, n_genes=100, threshold=0.5)
    assert g.vcount() == 100
    assert min(g.es["weight"]) >= 0.5 and max(g.es["weight"]) <= 1.0
    assert not g.is_directed()
    # most variable genes are taken on the log layer: module genes (variance ~1.25)
    # beat background noise genes (variance ~1)
    assert sum(name.startswith("M") for name in g.vs["name"]) >= 90


def test_knn_edges_give_each_gene_k_neighbours(adata):
    g = coexpression.coexpression_graph(adata, n_genes=adata.n_vars, edges="knn", knn=5)
    assert min(g.degree()) >= 5
    assert g.ecount() <= 5 * g.vcount()


def test_too_few_genes_is_input_error(adata):
    with pytest.raises(InputError, match="lower --n-genes"):
        coexpression.coexpression_graph(adata, n_genes=adata.n_vars + 1, path="x.h5ad")


def test_spearman_is_rank_pearson():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(40, 5))
    v[:, 1] = np.exp(v[:, 0])  # monotone: spearman 1, pearson < 1
    s = coexpression.correlation_matrix(v, "spearman")
    p = coexpression.correlation_matrix(v, "pearson")
    assert s[0, 1] == pytest.approx(1.0)
    assert p[0, 1] < 0.95
    from scipy.stats import spearmanr

    np.testing.assert_allclose(s, spearmanr(v).statistic, atol=1e-12)


# ---------------------------------------------------------------- communities


def test_recovers_planted_modules(adata):
    g = coexpression.coexpression_graph(adata, n_genes=adata.n_vars, threshold=0.5)
    assign = cm.hierarchical_leiden(g, max_size=48, min_size=10, seed=0)
    module = adata.var["module"]
    # background noise genes are isolated: in no community
    assert not any(gene.startswith("N_") for gene in assign.index)
    genes = module.index[module >= 0]
    found = [assign.get(gene, f"none_{gene}") for gene in genes]
    assert adjusted_rand_score(module[genes].to_numpy(), found) >= 0.9
    # ids sorted by size, largest first
    sizes = assign.value_counts().reindex(sorted(assign.unique()))
    assert list(sizes) == sorted(sizes, reverse=True)
    assert sizes.index[0] == "c01"


def test_hierarchy_caps_sizes_and_drops_small():
    # one 100-gene module made of 4 sub-modules of 25, plus small modules of 6 genes
    rng = np.random.default_rng(3)
    n = 100
    common = rng.normal(size=n)
    cols, names = [], []
    for s in range(4):
        sub = rng.normal(size=n)
        for j in range(25):
            cols.append(0.8 * common + 0.8 * sub + rng.normal(scale=0.3, size=n))
            names.append(f"B{s}_{j}")
    for s in range(3):
        f = rng.normal(size=n)
        for j in range(6):
            cols.append(f + rng.normal(scale=0.3, size=n))
            names.append(f"S{s}_{j}")
    corr = coexpression.correlation_matrix(np.column_stack(cols))
    w = coexpression.adjacency(corr, threshold=0.4)
    src, dst = np.nonzero(np.triu(w, 1))
    g = ig.Graph(n=len(names), edges=list(zip(src, dst, strict=True)))
    g.vs["name"] = names
    g.es["weight"] = w[src, dst].tolist()

    # a low resolution keeps the big module whole at the top level, so it must be
    # split recursively (with increasing resolution)
    tree = cm.leiden_tree(g, resolution=0.05, max_size=30, min_size=10, seed=0)
    sizes = [len(c.genes) for c in tree]
    assert sizes and all(10 <= s <= 30 for s in sizes)
    kept = {gene for c in tree for gene in c.genes}
    assert not any(gene.startswith("S") for gene in kept)  # 6-gene modules dropped
    assert len(kept) >= 80  # the big module is split, not thrown away
    assert any("/" in c.path for c in tree)  # split below the top level

    # a clique cannot be split by modularity: resolution is raised / core kept
    clique = ig.Graph.Full(60)
    clique.vs["name"] = [f"g{i:02d}" for i in range(60)]
    clique.es["weight"] = [1.0] * clique.ecount()
    tree = cm.leiden_tree(clique, max_size=48, min_size=10, seed=0, max_depth=3)
    assert tree and all(10 <= len(c.genes) <= 48 for c in tree)


def test_truncation_keeps_most_connected_genes():
    # a 60-gene star-like dense core: depth 0 forces truncation immediately
    g = ig.Graph.Full(60)
    g.vs["name"] = [f"g{i:02d}" for i in range(60)]
    weights = [1.0 if (e.source < 20 and e.target < 20) else 0.1 for e in g.es]
    g.es["weight"] = weights
    tree = cm.leiden_tree(g, max_size=20, min_size=5, max_depth=0, partition="modularity")
    assert len(tree) >= 1
    assert all(len(c.genes) <= 20 for c in tree)


def test_leiden_deterministic_for_seed(adata):
    g = coexpression.coexpression_graph(adata, n_genes=adata.n_vars, threshold=0.5)
    a = cm.hierarchical_leiden(g, max_size=20, seed=7)
    b = cm.hierarchical_leiden(g, max_size=20, seed=7)
    pd.testing.assert_series_equal(a, b)
    assert (a.value_counts() <= 20).all() and (a.value_counts() >= 10).all()


def test_order_genes_puts_correlated_genes_together():
    rng = np.random.default_rng(5)
    f1, f2 = rng.normal(size=(2, 80))
    genes, cols = [], []
    for j in range(6):  # interleave names of two sub-blocks
        cols += [f1 + rng.normal(scale=0.3, size=80), f2 + rng.normal(scale=0.3, size=80)]
        genes += [f"A{j}", f"B{j}"]
    corr = pd.DataFrame(coexpression.correlation_matrix(np.column_stack(cols)), index=genes, columns=genes)
    order = cm.order_genes(corr)
    assert sorted(order) == sorted(genes)
    blocks = "".join(g[0] for g in order)
    assert blocks in ("AAAAAABBBBBB", "BBBBBBAAAAAA")
    # deterministic and independent of input order
    shuffled = corr.iloc[::-1, ::-1]
    assert cm.order_genes(shuffled) == order


# ---------------------------------------------------------------- stage / CLI


def _args(**kw):
    import argparse

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    argv = ["--expression", "x", "--out-dir", "y"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return parser.parse_args(argv)


FAST = {"n_genes": 190, "threshold": 0.5, "n_estimators": 20, "folds": 4}


def test_train_samples_only(adata):
    """Changing test samples (values and labels) changes no output."""
    args = _args(**FAST)
    ref = command.community_tables(adata, args)
    other = adata.copy()
    test = (other.obs["split"] == "test").to_numpy()
    rng = np.random.default_rng(11)
    other.layers["log"][test] = rng.normal(size=(test.sum(), other.n_vars)) * 10
    other.X[test] = rng.random((test.sum(), other.n_vars))
    other.obs.loc[test, "label"] = "normal"
    new = command.community_tables(other, args)
    pd.testing.assert_frame_equal(ref["communities"], new["communities"])
    pd.testing.assert_frame_equal(ref["baseline"], new["baseline"])
    pd.testing.assert_frame_equal(ref["network"], new["network"])
    assert ref["selected"] == new["selected"] and ref["genes"] == new["genes"]


def _write(adata, tmp_path):
    path = tmp_path / "expression.h5ad"
    adata.write_h5ad(path)
    return path


def _cli(path, outdir, *extra):
    argv = ["communities", "--expression", str(path), "--out-dir", str(outdir)]
    for k, v in FAST.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return cli.main(argv + list(extra))


def test_cli_writes_all_outputs(adata, tmp_path):
    path = _write(adata, tmp_path)
    out = tmp_path / "out"
    assert _cli(path, out) == 0
    comm = pd.read_csv(out / "communities.tsv", sep="\t")
    assert list(comm.columns) == ["gene", "community", "degree", "path"]
    assert comm["gene"].is_unique and (comm["degree"] > 0).all()
    sizes = comm["community"].value_counts()
    assert sizes.between(10, 48).all()
    base = pd.read_csv(out / "baseline.tsv", sep="\t")
    assert list(base.columns) == [
        "community", "n_genes", "model", "balanced_accuracy", "sensitivity", "specificity",
        "roc_auc", "ridge_auc", "null_auc_median", "null_auc_q95", "permutation_p",
        "permutation_q", "n_permutations", "significant", "selected", "selection",
    ]
    assert len(base) == 2 * len(sizes)
    assert set(base["model"]) == {"logistic_regression", "random_forest"}
    selected = (out / "selected.txt").read_text().split()
    assert selected, "the label-shifted modules must pass the baseline"
    assert set(base.loc[base["selected"], "community"]) == set(selected)
    # default --method permutation: the selected are exactly the significant ones
    per = base.drop_duplicates("community").set_index("community")
    assert set(per.index[per["significant"]]) == set(selected)
    assert (per.loc[selected, "selection"] == "significant").all()
    assert (per.loc[selected, "permutation_q"] <= 0.05).all()
    assert (per["n_permutations"] == 999).all()
    assert sorted(p.stem for p in (out / "genes").iterdir()) == sorted(selected)
    for cid in selected:
        genes = (out / "genes" / f"{cid}.txt").read_text().split()
        assert genes == comm.loc[comm["community"] == cid, "gene"].tolist()
        # planted label signal: the selected community is the signal module 0
        assert all(g.startswith("M0_") for g in genes)
    assert list(per.loc[selected, "ridge_auc"]) == sorted(per.loc[selected, "ridge_auc"], reverse=True)
    net = pd.read_csv(out / "network.tsv", sep="\t")
    assert list(net.columns) == ["gene1", "gene2", "weight"]
    assert set(net["gene1"]) | set(net["gene2"]) <= set(comm["gene"])
    assert (net["weight"] >= 0.5).all()
    # pool.txt: every gene of the network (the enrichment universe), a superset of the communities
    pool = (out / "pool.txt").read_text().split()
    assert pool == sorted(set(pool)) and set(comm["gene"]) <= set(pool)
    assert set(net["gene1"]) | set(net["gene2"]) <= set(pool)
    # rerun is deterministic and replaces the outputs
    first = {p.name: p.read_bytes() for p in out.glob("*.*")}
    assert _cli(path, out) == 0
    assert first == {p.name: p.read_bytes() for p in out.glob("*.*")}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_zero_selected_writes_empty_selection(adata, tmp_path, caplog):
    path = _write(adata, tmp_path)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert _cli(path, out, "--method", "threshold", "--min-accuracy", "1.01") == 0
    assert (out / "selected.txt").read_text() == ""
    assert (out / "genes").is_dir() and not list((out / "genes").iterdir())
    assert (out / "communities.tsv").exists() and (out / "baseline.tsv").exists()
    assert any("no community selected" in r.getMessage() and "--min-accuracy" in r.getMessage()
               for r in caplog.records)
    base = pd.read_csv(out / "baseline.tsv", sep="\t")
    assert not base["selected"].any() and set(base["selection"]) == {"below_threshold"}


def test_min_communities_fills_up_flagged(adata, tmp_path, caplog):
    """Nothing passes the bar: --min-communities trains the best anyway, flagged exploratory."""
    path = _write(adata, tmp_path)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert _cli(path, out, "--method", "threshold", "--min-accuracy", "1.01",
                    "--min-communities", "2") == 0
    selected = (out / "selected.txt").read_text().split()
    base = pd.read_csv(out / "baseline.tsv", sep="\t")
    per = base.drop_duplicates("community").set_index("community")
    best = base.groupby("community").agg(ba=("balanced_accuracy", "max"), n=("n_genes", "first"))
    ranked = sorted(best.index, key=lambda c: (-round(best.at[c, "ba"], 10), -best.at[c, "n"], c))
    assert selected == ranked[:2]
    assert (per.loc[selected, "selection"] == "min_communities").all()
    assert sorted(p.stem for p in (out / "genes").iterdir()) == sorted(selected)
    assert any("--min-communities 2" in r.getMessage() for r in caplog.records)


def test_selection_options_are_checked(adata, tmp_path, capsys):
    path = _write(adata, tmp_path)
    for extra, msg in [
        (["--permutations", "10"], "--permutations 10 cannot reach p <= --fdr 0.05: use at least 19"),
        (["--permutations", "0"], "--method permutation needs --permutations >= 1"),
        (["--fdr", "0"], "--fdr must be in (0, 1]"),
        (["--min-communities", "-1"], "--min-communities must be >= 0"),
    ]:
        assert _cli(path, tmp_path / "out", *extra) == 2
        assert msg in capsys.readouterr().err


def _nothing_written(out):
    return not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_errors_leave_nothing_behind(adata, tmp_path, capsys):
    out = tmp_path / "out"
    # not an AnnData
    bad = tmp_path / "bad.h5ad"
    bad.write_text("gene\tS1\nA\t1\n")
    assert _cli(bad, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.h5ad" in err[0] and "AnnData" in err[0]
    assert _nothing_written(out)
    # missing obs column
    broken = adata.copy()
    del broken.obs["group"]
    path = tmp_path / "nogroup.h5ad"
    broken.write_h5ad(path)
    assert _cli(path, out) == 2
    err = capsys.readouterr().err
    assert "nogroup.h5ad" in err and "group" in err
    assert _nothing_written(out)
    # non-finite values
    broken = adata.copy()
    broken.X[0, 0] = np.nan
    path = tmp_path / "nan.h5ad"
    broken.write_h5ad(path)
    assert _cli(path, out) == 2
    err = capsys.readouterr().err
    assert "nan.h5ad" in err and "NaN" in err
    assert _nothing_written(out)
    # no community survives: say which threshold to lower
    path = _write(adata, tmp_path)
    assert _cli(path, out, "--threshold", "0.99") == 2
    err = capsys.readouterr().err
    assert "expression.h5ad" in err and "lower --threshold" in err
    assert _nothing_written(out)
    # too many genes requested
    assert _cli(path, out, "--n-genes", "5000") == 2
    assert "lower --n-genes" in capsys.readouterr().err
    assert _nothing_written(out)


def test_failure_while_writing_leaves_nothing(adata, tmp_path, monkeypatch):
    tables = command.community_tables(adata, _args(**FAST))
    out = tmp_path / "out"

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(type(tables["network"]), "to_csv", boom)
    with pytest.raises(OSError):
        command.write_community_tables(out, tables)
    assert _nothing_written(out)


def test_a_failure_while_writing_keeps_the_previous_set(adata, tmp_path, monkeypatch):
    """The five tables and genes/ are published together: a failure after some were written changes none."""
    path = _write(adata, tmp_path)
    out = tmp_path / "out"
    assert _cli(path, out) == 0
    (out / "notes.txt").write_text("a file of the user's\n")
    before = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    original = pd.DataFrame.to_csv

    def fail_on_network(self, target=None, *args, **kwargs):
        if target is not None and ".network." in str(target):
            raise InterruptedError("disk gone")  # after communities.tsv and baseline.tsv were written
        return original(self, target, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_on_network)
    with pytest.raises(InterruptedError):
        _cli(path, out, "--threshold", "0.55")
    after = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.rglob(".*")]
