"""Classical baseline subcommunities (omics.classical) and `mpsomics classical-subcommunities`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.synthetic import prepared_anndata
from scipy.stats import mannwhitneyu

from mpsomics.cli import main
from mpsomics.core.errors import EXIT_INPUT
from mpsomics.core.readers import read_subcommunities
from mpsomics.core.stats import bh
from mpsomics.mps.feature_map import feature_map
from mpsomics.omics import classical
from mpsomics.omics.coexpression import adjacency, gene_correlation
from mpsomics.omics.subcommunities import leiden_clusters

anndata = pytest.importorskip("anndata")

DE = [f"DE{i}" for i in range(5)]  # co-expressed, shifted by class
BG = [f"BG{i}" for i in range(5)]  # co-expressed, label-independent
MIX = [f"MIX{i}" for i in range(6)]  # co-expressed; only MIX0-2 shifted
IND = [f"IND{i}" for i in range(4)]  # independent noise
GENES = DE + BG + MIX + IND
CLASSES = ["normal", "tumor"]


def make_data(seed: int = 0, n: int = 160, shift: float = 1.0) -> anndata.AnnData:
    """Prepared AnnData (scaled on the training split) with the blocks above."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(int)
    s = 2 * y - 1

    def block(size: int, shifted: int) -> np.ndarray:
        z = rng.normal(size=n)[:, None] * np.ones(size)
        z[:, :shifted] += shift * s[:, None]
        return z + rng.normal(scale=0.4, size=(n, size))

    log2 = 6.0 + np.hstack([block(5, 5), block(5, 0), block(6, 3), rng.normal(size=(n, len(IND)))])
    split = np.where(rng.random(n) < 0.75, "train", "test")
    return prepared_anndata(log2, y, split, GENES, CLASSES)


def train_arrays(ad):
    train = ad.obs["split"].to_numpy() == "train"
    return np.asarray(ad.X)[train], (ad.obs["label"].to_numpy()[train] == "tumor").astype(int)


def sets_of(table: pd.DataFrame, method: str) -> dict[str, list[str]]:
    sub = table[table["method"] == method]
    return {str(k): list(g["gene"]) for k, g in sub.groupby("subcommunity", sort=False)}


# ----------------------------------------------------------------------------- de_table


def test_de_table_matches_its_definitions():
    X, y = train_arrays(make_data())
    de = classical.de_table(X, y, GENES)
    assert list(de.columns) == classical.DE_COLUMNS and list(de["gene"]) == GENES
    assert list(de["site"]) == list(range(len(GENES)))
    pos, neg = X[y == 1], X[y == 0]
    for j in (0, 7, 12, 18):
        assert de["p"][j] == pytest.approx(mannwhitneyu(pos[:, j], neg[:, j], alternative="two-sided").pvalue, rel=1e-12)
        pooled = np.sqrt(((len(pos) - 1) * pos[:, j].var(ddof=1) + (len(neg) - 1) * neg[:, j].var(ddof=1))
                         / (len(X) - 2))
        assert de["effect"][j] == pytest.approx((pos[:, j].mean() - neg[:, j].mean()) / pooled, rel=1e-12)
        # data contrast = |m_pos - m_neg| / 2 of the class-averaged product states of the feature map
        phi = feature_map(X[:, j])
        z = phi[:, 0] ** 2 - phi[:, 1] ** 2  # <sigma^z> of each sample's local state
        assert de["contrast"][j] == pytest.approx(abs(z[y == 1].mean() - z[y == 0].mean()) / 2, abs=1e-12)
    np.testing.assert_allclose(de["q"], bh(de["p"]), rtol=1e-12)
    assert (de["p"][:5] < 1e-6).all() and (de["effect"][:5] > 1).all()  # the shifted block


def test_de_table_constant_gene_and_contrast_range():
    X = np.zeros((6, 2))
    X[:, 1] = [0, 0, 0, 1, 1, 1]
    y = np.array([0, 0, 0, 1, 1, 1])
    de = classical.de_table(X, y, ["flat", "split"])
    assert de["p"][0] == 1.0 and de["effect"][0] == 0.0 and de["contrast"][0] == 0.0
    assert de["contrast"][1] == pytest.approx(1.0)  # cos(0) = 1 vs cos(pi) = -1: the maximum
    assert np.isnan(de["effect"][1])  # constant within each class at different values


@pytest.mark.parametrize(
    "X, y, genes, match",
    [
        (np.zeros((6, 3)), np.array([0, 0, 0, 1, 1, 1]), ["a", "b"], "expected"),
        (np.zeros((6, 2)), np.array([0, 0, 0, 1, 1, 2]), ["a", "b"], "0 \\(negative\\)"),
        (np.zeros((6, 2)), np.array([0, 0, 0, 0, 0, 1]), ["a", "b"], ">= 2 samples"),
        (np.full((6, 2), np.nan), np.array([0, 0, 0, 1, 1, 1]), ["a", "b"], "non-finite"),
        (np.zeros((6, 2)), np.array([0, 0, 0, 1, 1, 1]), ["a", "a"], "duplicated"),
    ],
)
def test_bad_input_is_a_value_error(X, y, genes, match):
    with pytest.raises(ValueError, match=match):
        classical.de_table(X, y, genes)


# ------------------------------------------------------------------ classical / top_de


def test_classical_keeps_de_genes_of_coexpressed_clusters():
    """The shifted block is reported whole; the label-independent block is clustered but
    removed by the DE filter; of the mixed block only the shifted genes stay."""
    X, y = train_arrays(make_data())
    t = classical.classical_subcommunities(X, y, GENES, "c01")
    assert list(t.columns) == classical.CLASSICAL_COLUMNS
    sets = sets_of(t, "classical")
    assert sorted(map(sorted, sets.values())) == sorted([sorted(DE), sorted(MIX[:3])])
    assert list(sets) == ["c01/classical1", "c01/classical2"]  # largest first
    assert sets["c01/classical1"] == DE  # site order
    assert (t["site"] == [GENES.index(g) for g in t["gene"]]).all()
    assert (t["q"] <= 0.05).all() and (t["contrast"] >= 0.15).all()
    # without the filter every co-expressed block is a cluster, none of the independent genes
    raw = sets_of(classical.classical_subcommunities(X, y, GENES, "c01", fdr=1.0, min_contrast=0.0), "classical")
    assert sorted(map(sorted, raw.values())) == sorted(map(sorted, [DE, BG, MIX]))
    # min_size applies after the filter: the 3 surviving MIX genes are dropped at 4
    assert sets_of(classical.classical_subcommunities(X, y, GENES, "c01", min_size=4), "classical") == {
        "c01/classical1": DE
    }


def test_classical_uses_the_communities_stage_graph_and_degree_counts_edges_inside():
    """Spearman of the scaled training values = the stage's Spearman of layers['log'] (ranks);
    same edges (|r| >= 0.6), same Leiden clusters."""
    ad = make_data()
    X, y = train_arrays(ad)
    w = adjacency(gene_correlation(ad, GENES, "spearman").to_numpy(), edges="threshold", threshold=0.6)
    ei, ej = np.nonzero(np.triu(w, k=1))
    expected = leiden_clusters(ei, ej, w[ei, ej], resolution=1.0, seed=0, min_size=3)
    clusters, ci, cj = classical.coexpression_clusters(X, threshold=0.6, resolution=1.0, seed=0, min_size=3)
    assert clusters == expected and (ci == ei).all() and (cj == ej).all()
    t = classical.classical_subcommunities(X, y, GENES, "c01")
    for _, g in t.groupby("subcommunity"):
        idx = [GENES.index(x) for x in g["gene"]]
        inside = (w[np.ix_(idx, idx)] > 0).sum(axis=1)
        assert list(g["degree"]) == list(inside)


def test_top_de_is_size_matched_and_ranked_by_p():
    X, y = train_arrays(make_data())
    t = classical.classical_subcommunities(X, y, GENES, "c30", sizes={"c30/graph1": 4, "c30/paper": 7})
    de = classical.de_table(X, y, GENES)
    top = sets_of(t, "top_de")
    assert list(top) == ["c30/top_de:graph1", "c30/top_de:paper"]
    order = np.lexsort((de["site"], -de["effect"].abs(), de["p"]))
    for sid, k in (("c30/top_de:graph1", 4), ("c30/top_de:paper", 7)):
        assert top[sid] == [GENES[i] for i in sorted(order[:k])]
    assert t.loc[t["method"] == "top_de", "degree"].isna().all()
    assert set(top["c30/top_de:graph1"]) <= set(DE + MIX[:3])
    with pytest.raises(ValueError, match="outside"):
        classical.classical_subcommunities(X, y, GENES, "c30", sizes={"c30/graph1": len(GENES) + 1})


def test_top_de_ties_go_to_the_larger_effect():
    """Monotone transforms of one column have identical ranks (tied p) but different effects."""
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 10)
    v = rng.random(20) + 0.3 * y
    X = np.column_stack([v**4, v, np.sqrt(v)]) / np.array([(v**4).max(), v.max(), np.sqrt(v).max()])
    t = classical.classical_subcommunities(X, y, ["a", "b", "c"], "c1", sizes={"g": 1})
    de = classical.de_table(X, y, ["a", "b", "c"])
    assert de["p"].nunique() == 1
    best = de["gene"][int(np.argmax(de["effect"].abs()))]
    assert best != "a"  # not merely the first site
    assert list(t.loc[t["method"] == "top_de", "gene"]) == [best]


def test_nothing_found_is_header_only_and_readable(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.random((60, 8)), np.repeat([0, 1], 30)
    t = classical.classical_subcommunities(X, y, [f"g{i}" for i in range(8)], "c02")
    assert t.empty and list(t.columns) == classical.CLASSICAL_COLUMNS
    path = tmp_path / "c02.tsv"
    t.to_csv(path, sep="\t", index=False)
    assert read_subcommunities(path).empty


# ----------------------------------------------------------------------------- command


def _inputs(tmp_path, ad=None, mps_rows=None):
    ad = make_data() if ad is None else ad
    h5 = tmp_path / "expression.h5ad"
    ad.write_h5ad(h5)
    genes = tmp_path / "c01.txt"
    genes.write_text("\n".join(GENES) + "\n")
    sub = tmp_path / "sub_c01.tsv"
    rows = mps_rows if mps_rows is not None else [(g, "c01/graph1", "graph") for g in DE[:4]]
    pd.DataFrame(rows, columns=["gene", "subcommunity", "method"]).to_csv(sub, sep="\t", index=False)
    return h5, genes, sub


def _run(h5, genes, sub, out, *extra):
    return main(["classical-subcommunities", "--expression", str(h5), "--genes", str(genes),
                 "--subcommunities", str(sub), "--out", str(out), *extra])


def test_command_writes_a_readable_table_from_the_training_split_only(tmp_path):
    ad = make_data()
    h5, genes, sub = _inputs(tmp_path, ad)
    out = tmp_path / "out" / "c01.tsv"
    assert _run(h5, genes, sub, out) == 0
    t = read_subcommunities(out)
    assert list(t.columns) == classical.CLASSICAL_COLUMNS
    assert set(t["method"]) == {"classical", "top_de"}
    assert (t.loc[t["method"] == "top_de", "subcommunity"] == "c01/top_de:graph1").sum() == 4
    # leakage: scrambling the test split changes nothing
    test = ad.obs["split"].to_numpy() == "test"
    ad.X[test] = np.random.default_rng(5).random((test.sum(), len(GENES)))
    ad.obs.loc[test, "label"] = "tumor"
    (tmp_path / "b").mkdir()
    h5b, _, _ = _inputs(tmp_path / "b", ad)
    out_b = tmp_path / "out" / "c01_b.tsv"
    assert _run(h5b, genes, sub, out_b, "--community", "c01") == 0
    assert out.read_text() == out_b.read_text()


def test_command_empty_mps_table_gives_no_top_de(tmp_path):
    h5, genes, sub = _inputs(tmp_path, mps_rows=[])
    out = tmp_path / "c01.tsv"
    assert _run(h5, genes, sub, out, "--fdr", "0.01", "--min-contrast", "0.2") == 0
    assert set(read_subcommunities(out)["method"]) == {"classical"}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("DE0", "c02/graph1", "graph")], "not of community"),
        ([("FOO", "c01/graph1", "graph")], "not in the community"),
    ],
)
def test_command_rejects_subcommunities_of_another_community(tmp_path, capsys, rows, message):
    h5, genes, sub = _inputs(tmp_path, mps_rows=rows)
    out = tmp_path / "c01.tsv"
    assert _run(h5, genes, sub, out) == EXIT_INPUT
    err = capsys.readouterr().err
    assert message in err and str(sub) in err
    assert not out.exists()


def test_command_missing_gene_names_the_expression_file(tmp_path, capsys):
    h5, genes, sub = _inputs(tmp_path)
    genes.write_text("\n".join([*GENES, "NOPE"]) + "\n")
    assert _run(h5, genes, sub, tmp_path / "c01.tsv") == EXIT_INPUT
    assert "NOPE" in capsys.readouterr().err


def test_command_bad_option_is_rejected(tmp_path):
    h5, genes, sub = _inputs(tmp_path)
    with pytest.raises(SystemExit):
        _run(h5, genes, sub, tmp_path / "c01.tsv", "--fdr", "0")
