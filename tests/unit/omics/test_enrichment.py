"""Offline over-representation analysis: statistics, "new" flags, CLI, online failure."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

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
            "set": ["c1", "c1", "c1/a", "c1/a", "c1/a", "c1/b"],
            "level": ["community", "community", "subcommunity", "subcommunity", "subcommunity", "subcommunity"],
            "library": ["h", "h", "h", "h", "r", "h"],
            "term": ["T1", "T2", "T1", "T2", "T1", "T3"],
            "significant": [True, False, True, True, True, False],
        }
    )
    new = enr.flag_new(df).tolist()
    # T1/h significant in parent -> not new; T2/h only significant in child -> new;
    # T1 in another library is a different term -> new; non-significant -> never new.
    assert new == [False, False, False, True, True, False]


def test_subcommunity_terms_flagged_new_end_to_end(universe):
    lib = {"A": universe[:20], "B": universe[100:120], "C": universe[200:260]}
    community = universe[:6] + universe[300:330]  # enriched for A only
    subs = {"c1/x": universe[100:106] + universe[400:402], "c1/y": universe[:5]}
    res = enr.run_enrichment("c1", community, subs, {"lib": lib}, enr.Background(universe))
    sig = res[res["significant"]]
    assert set(zip(sig["set"], sig["term"], strict=True)) >= {("c1", "A"), ("c1/x", "B"), ("c1/y", "A")}
    new = set(zip(res.loc[res["new"], "set"], res.loc[res["new"], "term"], strict=True))
    assert new == {("c1/x", "B")}
    assert list(dict.fromkeys(res["set"])) == ["c1", "c1/x", "c1/y"]


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection attempt fails the test: offline mode must not try."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr("socket.socket.connect", refuse)
    monkeypatch.setattr("socket.create_connection", refuse)


def test_cli_writes_contract_table(tmp_path, universe, no_network):
    gmt = tmp_path / "lib.gmt"
    gmt.write_text("".join(f"SET{i}\tdesc\t" + "\t".join(universe[i * 20:(i + 1) * 20]) + "\n" for i in range(20)))
    (tmp_path / "bg.txt").write_text("\n".join(universe) + "\n")
    (tmp_path / "genes.txt").write_text("\n".join(universe[:15] + universe[1000:1010]) + "\n")
    (tmp_path / "subs.tsv").write_text(
        "gene\tsubcommunity\tmethod\n" + "".join(f"{g}\tc01/paper1\tpaper\n" for g in universe[20:26])
    )
    out = tmp_path / "out" / "c01.tsv"
    rc = main([
        "enrichment", "--genes", str(tmp_path / "genes.txt"), "--subcommunities", str(tmp_path / "subs.tsv"),
        "--community", "c01", "--background", str(tmp_path / "bg.txt"), "--library", f"toy={gmt}",
        "--out", str(out),
    ])
    assert rc == 0
    df = pd.read_csv(out, sep="\t")
    assert list(df.columns) == enr.OUTPUT_COLUMNS
    assert df.loc[(df["set"] == "c01") & (df["term"] == "SET0"), "significant"].item()
    assert df.loc[(df["set"] == "c01/paper1") & (df["term"] == "SET1"), "new"].item()


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
