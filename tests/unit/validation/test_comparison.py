"""MPS and classical subcommunities side by side: overlaps, verdicts, new terms, summary, command."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.commands import compare_subcommunities
from mpsomics.validation import comparison as cmp
from mpsomics.validation.verdict import STABILITY_COLUMNS, SUMMARY_COLUMNS, subcommunity_verdicts

MPS_C1 = {"c1/graph1": ("graph", list("ABCD")), "c1/graph2": ("graph", list("XYZ"))}
CLASSICAL_C1 = {"c1/classical1": ("classical", list("ABC")), "c1/classical2": ("classical", list("PQR")),
                "c1/top_de:graph1": ("top_de", list("ABEF")), "c1/top_de:graph2": ("top_de", list("ABC"))}
MPS_C2 = {"c2/paper1": ("paper", list("KLM"))}


def table(sets: dict[str, tuple[str, list[str]]]) -> pd.DataFrame:
    rows = [{"gene": g, "subcommunity": s, "method": m} for s, (m, genes) in sets.items() for g in genes]
    return pd.DataFrame(rows, columns=["gene", "subcommunity", "method"])


def communities() -> list[cmp.CommunitySets]:
    return [cmp.sets_from_tables("c1", table(MPS_C1), table(CLASSICAL_C1)),
            cmp.sets_from_tables("c2", table(MPS_C2), table({}))]  # c2: no classical set at all


def stability() -> pd.DataFrame:
    rows = [  # subcommunity, jaccard_mean, contrast_null_q
        ("c1/graph1", 0.8, 0.01), ("c1/graph2", 0.9, 0.01), ("c1/classical1", 0.75, 0.5),
        ("c1/classical2", 0.5, 0.01), ("c2/paper1", 0.3, 0.01),
    ]
    out = pd.DataFrame([{c: 1.0 for c in STABILITY_COLUMNS} | {
        "community": s.split("/")[0], "subcommunity": s, "method": "x", "jaccard_mean": j, "contrast_null_q": q}
        for s, j, q in rows])
    return out


def summary() -> pd.DataFrame:
    rows = [  # set, null_q, preservation_z
        ("c1/graph1", 0.01, 5.0), ("c1/graph2", 0.2, 5.0), ("c1/classical1", 0.05, 2.0),
        ("c2/paper1", 0.01, 12.0),
    ]
    out = pd.DataFrame([{c: 1.0 for c in SUMMARY_COLUMNS} | {
        "cohort": "ext", "set": s, "kind": "subcommunity", "community": s.split("/")[0], "auc": 0.9,
        "null_q": q, "preservation_z": z} for s, q, z in rows])
    return out


def verdicts() -> pd.DataFrame:
    return subcommunity_verdicts(stability(), summary(), stable_jaccard=0.75, fdr=0.05, preserved_z=2.0)


# --------------------------------------------------------------------------- overlaps


def test_overlap_with_the_other_family():
    t = cmp.comparison_table(communities(), overlap=0.5)
    assert list(t.columns) == list(cmp.COLUMNS)
    t = t.set_index("subcommunity")
    assert t.index.tolist() == [*MPS_C1, *CLASSICAL_C1, *MPS_C2]
    g1 = t.loc["c1/graph1"]
    # classical1 {A,B,C} and top_de:graph2 {A,B,C} tie at 3/4: the first in table order wins
    assert (g1["best_match"], g1["jaccard_best"], g1["jaccard_classical"]) == ("c1/classical1", 0.75, 0.75)
    assert g1["jaccard_top_de"] == pytest.approx(2 / 6)  # its twin {A,B,E,F}
    assert g1["genes_only_here"] == "D" and g1["n_genes_only_here"] == 1 and not g1["mps_only"]
    g2 = t.loc["c1/graph2"]
    assert (g2["best_match"], g2["jaccard_best"], g2["jaccard_top_de"]) == ("", 0.0, 0.0)
    assert g2["mps_only"] and g2["genes_only_here"] == "X,Y,Z"
    # classical and top_de sets are compared with the MPS sets; they have no mps_only / twin
    assert t.loc["c1/classical1", "best_match"] == "c1/graph1"
    assert t.loc["c1/classical2", "best_match"] == "" and t.loc["c1/classical2", "genes_only_here"] == "P,Q,R"
    assert t.loc["c1/top_de:graph1", "jaccard_best"] == pytest.approx(2 / 6)
    assert t.loc["c1/top_de:graph1", "genes_only_here"] == "E,F"
    assert pd.isna(t.loc["c1/classical1", "mps_only"]) and np.isnan(t.loc["c1/classical1", "jaccard_top_de"])
    assert t.loc["c1/top_de:graph2", "family"] == "top_de" and t.loc["c1/classical1", "family"] == "classical"


def test_a_community_without_classical_sets():
    t = cmp.comparison_table(communities()).set_index("subcommunity")
    p = t.loc["c2/paper1"]
    assert (p["best_match"], p["jaccard_best"], p["mps_only"]) == ("", 0.0, True)
    # no twin: NaN; no classical set: best match 0 (as jaccard_best, and as the stability matching)
    assert np.isnan(p["jaccard_top_de"]) and p["jaccard_classical"] == 0.0
    s = cmp.summary_table(cmp.comparison_table(communities()), communities()).set_index("community")
    assert (s.loc["c2", "n_mps"], s.loc["c2", "n_classical"], s.loc["c2", "n_top_de"]) == (1, 0, 0)
    assert s.loc["c2", "genes_jaccard_mps_classical"] == 0.0
    assert s.loc["c2", "n_genes_classical"] == 0 and np.isnan(s.loc["c2", "median_jaccard_top_de"])


def test_the_overlap_threshold_is_strict():
    t = cmp.comparison_table(communities(), overlap=0.75).set_index("subcommunity")
    assert not t.loc["c1/graph1", "mps_only"]  # 0.75 is not below 0.75
    t = cmp.comparison_table(communities(), overlap=0.76).set_index("subcommunity")
    assert t.loc["c1/graph1", "mps_only"]


def test_top_de_twin_ids():
    assert cmp.top_de_twin("c30", "c30/graph1") == "c30/top_de:graph1"
    assert [cmp.family(m) for m in ("paper", "graph", "classical", "top_de")] == ["mps", "mps", "classical", "top_de"]


# --------------------------------------------------------------------------- verdicts


def test_verdicts_edge_cases():
    t = cmp.comparison_table(communities(), verdicts()).set_index("subcommunity")
    # all three measured and passed
    assert t.loc["c1/graph1", ["stable", "significant", "preserved", "validated"]].tolist() == [True] * 4
    # stable and preserved but the cohort's null is not beaten: not validated
    assert t.loc["c1/graph2", ["stable", "significant", "validated"]].tolist() == [True, False, False]
    # at the thresholds: Jaccard 0.75 is stable (>=), q 0.05 significant (<=), Z 2 not preserved (>)
    assert t.loc["c1/classical1", ["stable", "significant", "preserved", "validated"]].tolist() == [
        True, True, False, False]
    # no cohort row: significance from the contrast null, preservation unmeasured -> <NA>, not validated
    c2 = t.loc["c1/classical2"]
    assert c2["significant"] and c2["significance_basis"] == "contrast" and pd.isna(c2["preserved"])
    assert not c2["validated"]
    # in neither table: every verdict <NA>, never validated
    assert t.loc["c1/top_de:graph1", ["stable", "significant", "preserved"]].isna().all()
    assert not t.loc["c1/top_de:graph1", "validated"]
    # unstable despite external significance and strong preservation
    assert t.loc["c2/paper1", ["stable", "significant", "preserved", "validated"]].tolist() == [
        False, True, True, False]
    none = cmp.comparison_table(communities(), None)
    assert none["stable"].isna().all() and not none["validated"].any()


def test_summary_counts():
    sets = communities()
    t = cmp.comparison_table(sets, verdicts(), overlap=0.5)
    s = cmp.summary_table(t, sets)
    assert list(s.columns) == list(cmp.SUMMARY_COLUMNS) and s["community"].tolist() == ["c1", "c2", "all"]
    s = s.set_index("community")
    c1, a = s.loc["c1"], s.loc["all"]
    assert (c1["n_mps"], c1["n_classical"], c1["n_top_de"]) == (2, 2, 2)
    assert (c1["n_mps_stable"], c1["n_mps_validated"], c1["n_classical_significant"]) == (2, 1, 2)
    assert (c1["n_classical_stable"], c1["n_classical_preserved"], c1["n_classical_validated"]) == (1, 0, 0)
    assert (c1["n_mps_tested"], c1["n_classical_tested"], c1["n_top_de_tested"]) == (2, 1, 0)
    assert (c1["n_mps_only"], c1["n_mps_only_validated"]) == (1, 0)  # graph2: found only by the MPS, not validated
    assert c1["median_jaccard_best"] == pytest.approx(0.375) and c1["median_jaccard_top_de"] == pytest.approx(1 / 6)
    # gene unions: MPS {ABCDXYZ}, classical {ABCPQR}, top_de {ABCEF}; MPS vs classical+top_de: {ABC} of 12
    assert (c1["n_genes_mps"], c1["n_genes_classical"], c1["n_genes_top_de"]) == (7, 6, 5)
    assert c1["genes_jaccard_mps_classical"] == pytest.approx(3 / 12)
    assert (a["n_mps"], a["n_mps_only"], a["n_mps_validated"], a["n_genes_mps"]) == (3, 2, 1, 10)
    assert a["genes_jaccard_mps_classical"] == pytest.approx(3 / 15)
    assert a["median_jaccard_best"] == pytest.approx(0.0)  # 0.75, 0, 0
    assert np.isnan(a["n_new_terms_mps"])  # no enrichment given


# --------------------------------------------------------------------------- new terms


def enrichment(rows, new=True) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["set", "level", "library", "term", "new"])
    return df if new else df.drop(columns="new")


def test_new_terms_are_distinct_flagged_terms(caplog):
    e = enrichment([("c1", "community", "h", "T1", False), ("c1/graph1", "subcommunity", "h", "T2", True),
                    ("c1/graph1", "subcommunity", "h", "T2", True), ("c1/graph1", "subcommunity", "r", "T2", True),
                    ("c1/graph1", "subcommunity", "h", "T3", False), ("c1/graph2", "subcommunity", "h", "T4", "True")])
    assert cmp.new_terms(e) == {"c1/graph1": 2, "c1/graph2": 1}
    assert cmp.new_terms(None) is None
    with caplog.at_level(logging.WARNING):
        assert cmp.new_terms(enrichment([], new=False), "old.tsv") is None
    assert "old.tsv: no 'new' column" in caplog.text
    terms = {("c1", "mps"): cmp.new_terms(e), ("c1", "classical"): None}
    t = cmp.comparison_table(communities(), terms=terms).set_index("subcommunity")
    assert t.loc["c1/graph1", "n_new_terms"] == 2 and t.loc["c1/graph2", "n_new_terms"] == 1
    assert np.isnan(t.loc["c1/classical1", "n_new_terms"]) and np.isnan(t.loc["c2/paper1", "n_new_terms"])
    s = cmp.summary_table(t.reset_index(), communities()).set_index("community")
    assert s.loc["all", "n_new_terms_mps"] == 3 and np.isnan(s.loc["all", "n_new_terms_classical"])


# --------------------------------------------------------------------------- command


@pytest.fixture
def files(tmp_path: Path) -> dict[str, list[str] | str]:
    (tmp_path / "selected.txt").write_text("c1\nc2\n")
    paths: dict[str, list[str] | str] = {"selected": str(tmp_path / "selected.txt")}
    for key, per in (("mps", (MPS_C1, MPS_C2)), ("classical", (CLASSICAL_C1, {}))):
        paths[key] = []
        for c, sets in zip(("c1", "c2"), per, strict=True):
            p = tmp_path / f"{key}_{c}.tsv"
            table(sets).to_csv(p, sep="\t", index=False)
            paths[key].append(str(p))
    stability().to_csv(tmp_path / "stability.tsv", sep="\t", index=False)
    summary().to_csv(tmp_path / "summary.tsv", sep="\t", index=False)
    paths["stability"], paths["validation"] = str(tmp_path / "stability.tsv"), str(tmp_path / "summary.tsv")
    e = enrichment([("c1/graph1", "subcommunity", "h", "T2", True), ("c1/graph2", "subcommunity", "h", "T2", False)])
    paths["enrichment"] = []
    for c in ("c1", "c2"):
        e.to_csv(tmp_path / f"enr_{c}.tsv", sep="\t", index=False)
        paths["enrichment"].append(str(tmp_path / f"enr_{c}.tsv"))
    return paths


def compare(files, out, **override) -> int:
    f = {**files, **override}
    args = ["compare-subcommunities", "--selected", f["selected"], "--subcommunities", *f["mps"],
            "--classical", *f["classical"], "--out-dir", str(out)]
    for key in ("stability", "validation"):
        if f.get(key):
            args += [f"--{key}", f[key]]
    if f.get("enrichment"):
        args += ["--enrichment", *f["enrichment"]]
    return main(args)


def test_command_writes_both_tables(files, tmp_path):
    out = tmp_path / "comparison"
    assert compare(files, out) == 0
    t = pd.read_csv(out / "subcommunities.tsv", sep="\t", keep_default_na=False, na_values=[""])
    s = pd.read_csv(out / "summary.tsv", sep="\t")
    assert list(t.columns) == list(cmp.COLUMNS) and list(s.columns) == list(cmp.SUMMARY_COLUMNS)
    expected = cmp.comparison_table(communities(), verdicts())
    assert t["subcommunity"].tolist() == expected["subcommunity"].tolist()
    assert t["validated"].tolist() == expected["validated"].tolist()
    t = t.set_index("subcommunity")
    assert t.loc["c1/graph1", "n_new_terms"] == 1 and t.loc["c1/graph2", "n_new_terms"] == 0
    assert np.isnan(t.loc["c1/classical1", "n_new_terms"])  # no --classical-enrichment
    assert s.set_index("community").loc["all", "n_mps_validated"] == 1


def test_command_without_verdict_tables(files, tmp_path, caplog):
    out = tmp_path / "comparison"
    with caplog.at_level(logging.WARNING):
        assert compare(files, out, stability=None, validation=None, enrichment=None) == 0
    assert "every verdict is <NA>" in caplog.text
    t = pd.read_csv(out / "subcommunities.tsv", sep="\t")
    assert t["stable"].isna().all() and not t["validated"].any()


def test_empty_selection_gives_an_all_row(tmp_path):
    (tmp_path / "selected.txt").write_text("")
    out = tmp_path / "comparison"
    assert main(["compare-subcommunities", "--selected", str(tmp_path / "selected.txt"), "--out-dir", str(out)]) == 0
    s = pd.read_csv(out / "summary.tsv", sep="\t")
    assert s["community"].tolist() == ["all"] and s["n_mps"].tolist() == [0]
    assert pd.read_csv(out / "subcommunities.tsv", sep="\t").empty


@pytest.mark.parametrize("change, message", [
    ("count", "--classical has 1 files"),
    ("swap", "do not belong in --subcommunities"),
    ("order", "is not of community c1"),
    ("enrichment", "--enrichment has 1 files"),
])
def test_command_input_errors_exit_2_without_output(files, tmp_path, change, message, capsys):
    override = {"count": {"classical": files["classical"][:1]},
                "swap": {"mps": files["classical"], "classical": files["mps"]},
                "order": {"mps": files["mps"][::-1]},
                "enrichment": {"enrichment": files["enrichment"][:1]}}[change]
    out = tmp_path / "comparison"
    assert compare(files, out, **override) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_defaults_are_the_reports():
    """The verdict thresholds default to config `validation` (those of the report)."""
    import argparse

    p = argparse.ArgumentParser()
    compare_subcommunities.add_arguments(p)
    a = p.parse_args(["--selected", "s", "--out-dir", "o"])
    assert (a.stable_jaccard, a.fdr, a.preserved_z, a.overlap) == (0.75, 0.05, 2.0, 0.5)
    assert (a.subcommunities, a.classical, a.enrichment, a.classical_enrichment) == ([], [], [], [])
    assert a.stability is None and a.validation is None
