"""Offline over-representation analysis: statistics, "new" flags, CLI, online failure."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from mpsomics.cli import main
from mpsomics.core.errors import InputError
from mpsomics.omics import enrichment as enr

N_BG = 2000


@pytest.fixture(scope="module")
def universe() -> list[str]:
    return [f"GENE{i:04d}" for i in range(N_BG)]


def _random_library(rng: np.random.Generator, universe: list[str], n_sets: int = 60) -> dict[str, list[str]]:
    return {
        f"RANDOM_{i:02d}": list(rng.choice(universe, size=int(rng.integers(10, 120)), replace=False))
        for i in range(n_sets)
    }


def test_planted_set_is_recovered(universe):
    rng = np.random.default_rng(7)
    lib = _random_library(rng, universe)
    planted = list(rng.choice(universe, size=40, replace=False))
    lib["PLANTED"] = planted
    others = [g for g in universe if g not in set(planted)]
    query = planted[:20] + list(rng.choice(others, size=10, replace=False))
    res = enr.run_enrichment("c01", query, {}, {"synthetic": lib}, enr.Background(universe))
    top = res.iloc[0]
    assert top["term"] == "PLANTED"
    assert top["overlap"] >= 20
    assert top["fdr"] < 0.05 and bool(top["significant"])
    # every planted member in the query is reported, in the query's spelling
    assert set(planted[:20]) <= set(top["genes"].split(";"))
    assert list(res.columns) == enr.OUTPUT_COLUMNS


def test_random_query_has_no_significant_terms(universe):
    rng = np.random.default_rng(12345)
    lib = _random_library(rng, universe, n_sets=100)
    query = list(rng.choice(universe, size=30, replace=False))
    res = enr.run_enrichment("c01", query, {}, {"synthetic": lib}, enr.Background(universe))
    assert len(res) > 0  # overlaps exist, they are just not significant
    assert not res["significant"].any()
    assert (res["fdr"] >= res["p_value"]).all()


def test_pvalues_agree_with_gseapy(universe):
    gseapy = pytest.importorskip("gseapy")
    rng = np.random.default_rng(3)
    lib = _random_library(rng, universe, n_sets=40)
    lib["PLANTED"] = list(universe[:30])
    query = list(universe[:12]) + list(rng.choice(universe[30:], size=18, replace=False))
    params = enr.EnrichmentParams(min_set_size=1, max_set_size=10_000)  # gseapy has no size filter
    ours = enr.run_enrichment("c", query, {}, {"lib": lib}, enr.Background(universe), params).set_index("term")
    theirs = gseapy.enrich(gene_list=query, gene_sets=lib, background=universe, outdir=None, no_plot=True).results
    theirs = theirs.set_index("Term")
    assert set(ours.index) == set(theirs.index)
    np.testing.assert_allclose(ours["p_value"], theirs.loc[ours.index, "P-value"], rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(ours["odds_ratio"], theirs.loc[ours.index, "Odds Ratio"], rtol=1e-9)
    assert (ours["overlap"] == theirs.loc[ours.index, "Overlap"].str.split("/").str[0].astype(int)).all()
    # gseapy's BH family = terms with >= 1 hit; ours = all size-filtered terms, so ours is never smaller
    assert (ours["fdr"] >= theirs.loc[ours.index, "Adjusted P-value"] - 1e-12).all()


def test_benjamini_hochberg_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(0).uniform(size=50) ** 3
    np.testing.assert_allclose(enr.benjamini_hochberg(p), sm.multipletests(p, method="fdr_bh")[1])


def test_size_filter_applies_after_background_intersection(universe):
    bg = enr.Background(universe[:100])
    # 8 genes in the set, but only 4 inside the background -> dropped at min size 5
    lib = {"HALF_OUTSIDE": universe[96:104], "INSIDE": universe[:6]}
    prepared = enr.prepare_library("l", lib, bg, enr.EnrichmentParams(min_set_size=5, max_set_size=500))
    assert prepared.terms == ["INSIDE"] and prepared.n_dropped == 1


def test_case_insensitive_matching_keeps_query_spelling(universe):
    bg = enr.Background(["C1orf112", *universe[:200]])
    lib = {"S": ["C1ORF112", *universe[:9]]}
    res = enr.run_enrichment("c", ["C1orf112", *universe[:4]], {}, {"l": lib}, bg,
                             enr.EnrichmentParams(min_set_size=1))
    assert res.iloc[0]["overlap"] == 5 and "C1orf112" in res.iloc[0]["genes"].split(";")


def test_new_flag_logic():
    df = pd.DataFrame(
        {
            "set": ["c1", "c1", "c1/a", "c1/a", "c1/a", "c1/a", "c1/b"],
            "level": ["community", "community"] + ["subcommunity"] * 5,
            "library": ["h", "h", "h", "h", "r", "h", "h"],
            "term": ["T1", "T2", "T1", "T2", "T1", "T4", "T3"],
            "significant": [True, False, True, False, False, True, True],
            "significant_within_parent": [np.nan, np.nan, True, True, True, False, np.nan],
        }
    )
    new = enr.flag_new(df).tolist()
    # T1/h: significant within the parent but already a community term -> not new;
    # T2/h: within-parent significant, community not significant -> new (whether or not
    # the subcommunity is significant against the universe); T1 in another library is a
    # different term -> new; not significant within the parent (or not tested) -> never new.
    assert new == [False, False, False, True, True, False, False]


def _spread_case(universe: list[str]) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """A 40-gene community whose 8-gene subcommunity holds all 6 community genes of the
    200-gene term SPREAD (spread over the universe: 10 % of it), plus random terms."""
    rng = np.random.default_rng(11)
    lib = _random_library(rng, universe, n_sets=80)
    spread = list(rng.choice(universe, size=200, replace=False))
    others = [g for g in universe if g not in set(spread)]
    community = spread[:6] + list(rng.choice(others, size=34, replace=False))
    lib["SPREAD"] = spread
    subs = {"c1/graph1": spread[:6] + community[6:8], "c1/graph2": community[8:16]}
    return community, subs, lib


def test_within_parent_recovers_a_planted_subterm(universe):
    community, subs, lib = _spread_case(universe)
    res = enr.run_enrichment("c1", community, subs, {"lib": lib}, enr.Background(universe))
    row = lambda s, t: res[(res["set"] == s) & (res["term"] == t)].iloc[0]  # noqa: E731
    # the community as a whole is not enriched for SPREAD (6 of 40 where 4 are expected)
    assert not row("c1", "SPREAD")["significant"]
    sub = row("c1/graph1", "SPREAD")
    # within the parent: population 40, 6 term genes, 8 draws, all 6 drawn
    assert sub["parent_size"] == 40 and sub["term_in_parent"] == 6
    assert sub["p_within_parent"] == pytest.approx(math.comb(8, 6) / math.comb(40, 6), rel=1e-9)
    assert sub["p_within_parent"] == pytest.approx(hypergeom.sf(5, 40, 6, 8), rel=1e-9)
    assert sub["significant_within_parent"] and sub["new"]
    # the only new term; the other subcommunity (no SPREAD gene) has nothing within the parent
    assert set(zip(res.loc[res["new"], "set"], res.loc[res["new"], "term"], strict=True)) == {("c1/graph1", "SPREAD")}
    assert not res.loc[res["set"] == "c1/graph2", "significant_within_parent"].any()
    # community rows carry no within-parent test
    com = res[res["level"] == "community"]
    assert com["p_within_parent"].isna().all() and not com["significant_within_parent"].any()
    assert (res["universe_size"] == N_BG).all() and (res["universe"] == "genes").all()


def test_within_parent_bh_family_is_all_subcommunities_by_tested_terms(universe):
    community, subs, lib = _spread_case(universe)
    params = enr.EnrichmentParams()
    res = enr.run_enrichment("c1", community, subs, {"lib": lib}, enr.Background(universe), params)
    prepared = enr.prepare_library("lib", lib, enr.Background(universe), params)
    in_parent, _, n_parent = enr.term_overlaps(community, prepared)
    tested = np.flatnonzero(in_parent >= params.min_parent_overlap)
    p = {}
    for sid, genes in subs.items():
        x, _, k = enr.term_overlaps(genes, prepared)
        for t in tested:
            p[(sid, prepared.terms[t])] = hypergeom.sf(x[t] - 1, n_parent, in_parent[t], k) if x[t] else 1.0
    keys = list(p)
    q = dict(zip(keys, enr.benjamini_hochberg(np.array([p[k] for k in keys])), strict=True))
    subrows = res[res["level"] == "subcommunity"]
    checked = 0
    for r in subrows.itertuples(index=False):
        if (r.set, r.term) in q:
            assert r.p_within_parent == pytest.approx(p[(r.set, r.term)], rel=1e-9)
            assert r.fdr_within_parent == pytest.approx(q[(r.set, r.term)], rel=1e-9)
            checked += 1
        else:  # fewer than min_parent_overlap community genes: not tested
            assert np.isnan(r.p_within_parent) and not r.significant_within_parent
    assert checked >= 5


def test_universe_bh_family_is_all_lists_of_the_job_per_library(universe):
    community, subs, lib = _spread_case(universe)
    libs = {"a": lib, "b": _random_library(np.random.default_rng(5), universe, n_sets=30)}
    params = enr.EnrichmentParams()
    res = enr.run_enrichment("c1", community, subs, libs, enr.Background(universe), params)
    lists = {"c1": community, **subs}
    for name, sets in libs.items():
        prepared = enr.prepare_library(name, sets, enr.Background(universe), params)
        p, keys = [], []
        for sid, genes in lists.items():
            x, _, k = enr.term_overlaps(genes, prepared)
            p += list(np.where(x > 0, hypergeom.sf(x - 1, N_BG, prepared.sizes, k), 1.0))
            keys += [(sid, t) for t in prepared.terms]
        q = dict(zip(keys, enr.benjamini_hochberg(np.array(p)), strict=True))
        rows = res[res["library"] == name]
        assert len(rows) > 10
        for r in rows.itertuples(index=False):
            assert r.fdr == pytest.approx(q[(r.set, r.term)], rel=1e-9)


def test_the_right_universe_removes_false_positives():
    """Random lists drawn from a gene pool (the network genes) tested against every gene:
    terms over-represented in the pool itself (as biology makes the most variable genes
    of a tissue) come out "significant" for any list; against the pool they do not."""
    rng = np.random.default_rng(2024)
    everything = [f"G{i:05d}" for i in range(6000)]
    pool = everything[:1200]  # 20 % of the genes
    rest = everything[1200:]
    # 40 terms of 120 genes, half of them from the pool: 2.5x enriched in the pool
    lib = {f"T{i}": list(rng.choice(pool, 60, replace=False)) + list(rng.choice(rest, 60, replace=False))
           for i in range(40)}
    n_sig = {"all genes": 0, "pool": 0}
    for _ in range(60):
        query = list(rng.choice(pool, 30, replace=False))
        for name, bg in (("all genes", enr.Background(everything)), ("pool", enr.Background(pool))):
            res = enr.run_enrichment("c", query, {}, {"l": lib}, bg)
            n_sig[name] += bool(res["significant"].any())
    assert n_sig["all genes"] >= 20  # most random lists "enriched"
    assert n_sig["pool"] <= 6  # ~FDR level


def test_subcommunity_terms_flagged_new_end_to_end(universe):
    lib = {"A": universe[:20], "B": universe[100:300], "C": universe[200:260]}
    # enriched for A (6 genes); 5 of B spread among 36 community genes (expected: 3.6)
    community = universe[:6] + universe[100:105] + universe[400:425]
    subs = {"c1/x": universe[100:105] + universe[400:402], "c1/y": universe[:5]}
    res = enr.run_enrichment("c1", community, subs, {"lib": lib}, enr.Background(universe))
    sig = res[res["significant"]]
    assert set(zip(sig["set"], sig["term"], strict=True)) >= {("c1", "A"), ("c1/y", "A")}
    assert not res.loc[(res["set"] == "c1") & (res["term"] == "B"), "significant"].item()
    within = res[res["significant_within_parent"]]
    assert set(zip(within["set"], within["term"], strict=True)) == {("c1/x", "B"), ("c1/y", "A")}
    # c1/y's A is a community term: localised, not new
    new = set(zip(res.loc[res["new"], "set"], res.loc[res["new"], "term"], strict=True))
    assert new == {("c1/x", "B")}
    assert list(dict.fromkeys(res["set"])) == ["c1", "c1/x", "c1/y"]


def test_read_universe_from_the_network_edge_table(tmp_path, universe):
    net = tmp_path / "network.tsv"
    net.write_text("gene1\tgene2\tweight\n" + "".join(f"{universe[i]}\t{universe[i + 1]}\t0.7\n" for i in range(0, 40, 2)))
    bg = enr.read_universe(net)
    assert len(bg) == 40 and bg.source == "network" and universe[39] in bg and universe[40] not in bg
    lst = tmp_path / "pool.txt"
    lst.write_text("\n".join(universe[:100]) + "\n")
    assert len(enr.read_universe(lst)) == 100 and enr.read_universe(lst).source == "genes"
    (tmp_path / "empty_net.tsv").write_text("gene1\tgene2\tweight\n")
    with pytest.raises(InputError, match="no edge"):
        enr.read_universe(tmp_path / "empty_net.tsv")
    with pytest.raises(InputError, match="exactly one"):
        enr.read_background(genes_file=lst, universe=net)


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection attempt fails the test: offline mode must not try."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr("socket.socket.connect", refuse)
    monkeypatch.setattr("socket.create_connection", refuse)


def test_cli_writes_contract_table(tmp_path, universe, no_network):
    gmt = tmp_path / "lib.gmt"
    sets = {f"SET{i}": universe[i * 20:(i + 1) * 20] for i in range(20)}
    sets["SPREAD"] = universe[20:26] + universe[1200:1394]  # 200 genes, 6 of them in the community
    gmt.write_text("".join(f"{t}\tdesc\t" + "\t".join(g) + "\n" for t, g in sets.items()))
    # the network: edges among the first 1500 genes (the universe); the rest never enter
    net = tmp_path / "network.tsv"
    net.write_text("gene1\tgene2\tweight\n" + "".join(f"{universe[i]}\t{universe[i + 1]}\t0.7\n" for i in range(0, 1500, 2)))
    (tmp_path / "genes.txt").write_text("\n".join(universe[:15] + universe[20:26] + universe[1000:1010]) + "\n")
    (tmp_path / "subs.tsv").write_text(
        "gene\tsubcommunity\tmethod\n" + "".join(f"{g}\tc01/graph1\tgraph\n" for g in universe[20:26])
    )
    out = tmp_path / "out" / "c01.tsv"
    rc = main([
        "enrichment", "--genes", str(tmp_path / "genes.txt"), "--subcommunities", str(tmp_path / "subs.tsv"),
        "--community", "c01", "--universe", str(net), "--library", f"toy={gmt}",
        "--out", str(out),
    ])
    assert rc == 0
    df = pd.read_csv(out, sep="\t")
    assert list(df.columns) == enr.OUTPUT_COLUMNS
    assert (df["universe"] == "network").all() and (df["universe_size"] == 1500).all()
    assert df.loc[(df["set"] == "c01") & (df["term"] == "SET0"), "significant"].item()
    spread = df[(df["set"] == "c01/graph1") & (df["term"] == "SPREAD")].iloc[0]
    assert spread["parent_size"] == 31 and spread["term_in_parent"] == 6
    assert spread["significant_within_parent"] and spread["new"]


def test_cli_reads_background_from_h5ad(tmp_path, universe):
    ad = pytest.importorskip("anndata")
    obs = pd.DataFrame(  # the prepared contract (core.readers.read_prepared)
        {"label": ["normal", "tumor", "tumor"], "group": ["p0", "p1", "p2"], "split": ["train"] * 3},
        index=["s0", "s1", "s2"],
    )
    adata = ad.AnnData(np.zeros((3, 50)), obs=obs, var=pd.DataFrame(index=universe[:50]))
    adata.layers["log"] = adata.X.copy()
    adata.uns["classes"] = ["normal", "tumor"]
    adata.uns["positive_label"] = "tumor"
    adata.write_h5ad(tmp_path / "e.h5ad")
    bg = enr.read_background(expression=tmp_path / "e.h5ad")
    assert len(bg) == 50 and universe[0] in bg and universe[60] not in bg


def test_cli_bad_inputs_exit_2(tmp_path, capsys):
    (tmp_path / "genes.txt").write_text("\n")
    (tmp_path / "bg.txt").write_text("A\nB\n")
    (tmp_path / "l.gmt").write_text("S\td\tA\tB\n")
    rc = main(["enrichment", "--genes", str(tmp_path / "genes.txt"), "--community", "c",
               "--background", str(tmp_path / "bg.txt"), "--library", f"l={tmp_path / 'l.gmt'}",
               "--out", str(tmp_path / "o.tsv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "genes.txt" in err[0] and "empty" in err[0]
    assert not (tmp_path / "o.tsv").exists()


def test_online_mode_fails_clearly_without_server(monkeypatch):
    # A closed local port: refused immediately, exercising the real socket path
    # without depending on (or waiting for) the outside network.
    monkeypatch.setattr(enr, "ENRICHR_HOST", "127.0.0.1")
    monkeypatch.setattr(enr, "ENRICHR_PORT", 9)
    t0 = time.monotonic()
    with pytest.raises(InputError) as exc:
        enr.fetch_enrichr_libraries(["GO_Biological_Process_2023"], timeout=2)
    assert time.monotonic() - t0 < 5
    msg = str(exc.value)
    assert msg.startswith("enrichment.online is true but the Enrichr server is unreachable: ")
    assert "\n" not in msg


def test_cli_online_without_server_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(enr, "ENRICHR_HOST", "127.0.0.1")
    monkeypatch.setattr(enr, "ENRICHR_PORT", 9)
    (tmp_path / "g.txt").write_text("A\nB\n")
    rc = main(["enrichment", "--genes", str(tmp_path / "g.txt"), "--community", "c", "--background",
               str(tmp_path / "g.txt"), "--online", "--online-timeout", "2", "--out", str(tmp_path / "o.tsv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "enrichment.online is true but the Enrichr server is unreachable" in err[0]
    assert not (tmp_path / "o.tsv").exists()


def test_online_download_failure_is_one_line(monkeypatch):
    import gseapy

    class _Conn:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(enr.socket, "create_connection", lambda *a, **k: _Conn())

    def boom(**kwargs):
        raise ConnectionError("Max retries exceeded\nwith url")

    monkeypatch.setattr(gseapy, "get_library", boom)
    with pytest.raises(InputError, match="unreachable: downloading library 'X' failed: Max retries exceeded with url"):
        enr.fetch_enrichr_libraries(["X"])


def test_real_libraries_are_fast(tmp_path):
    from pathlib import Path

    from mpsomics.core.gmt import read_gmt

    root = Path(__file__).resolve().parents[3] / "data" / "genesets"
    libs = {n: read_gmt(root / f).sets for n, f in {
        "hallmark": "msigdb_h.all.v7.0.symbols.gmt",
        "reactome": "msigdb_c2.cp.reactome.v6.0.symbols.gmt",
        "go_bp": "enrichr_GO_Biological_Process_2023.gmt",
        "wikipathways": "wikipathways-20220610-gmt-Homo_sapiens.symbols.gmt",
    }.items()}
    universe = sorted({g for s in libs.values() for gs in s.values() for g in gs})[:10000]
    genes = [g for g in libs["hallmark"]["HALLMARK_HYPOXIA"] if g in set(universe)][:24] + universe[:24]
    subs = {"c/1": genes[:10], "c/2": genes[24:36]}
    t0 = time.monotonic()
    res = enr.run_enrichment("c", genes, subs, libs, enr.Background(universe))
    assert time.monotonic() - t0 < 10
    assert {"c", "c/1", "c/2"} <= set(res["set"])
