"""The enrichment table under gseapy's column names: same values as gseapy.enrich, and
gseapy.dotplot draws it as written to disk."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.omics import enrichment as enr

gseapy = pytest.importorskip("gseapy")

UNIVERSE = [f"GENE{i:04d}" for i in range(600)]


def _table(tmp_path) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    gmt = tmp_path / "toy.gmt"
    sets = {f"SET{i}": list(rng.choice(UNIVERSE, size=30, replace=False)) for i in range(12)}
    sets["SET0"] = UNIVERSE[:30]
    sets["SET1"] = UNIVERSE[100:130]
    gmt.write_text("".join(f"{t}\tdesc\t" + "\t".join(g) + "\n" for t, g in sets.items()))
    (tmp_path / "bg.txt").write_text("\n".join(UNIVERSE) + "\n")
    (tmp_path / "genes.txt").write_text("\n".join(UNIVERSE[:15] + UNIVERSE[300:310]) + "\n")
    (tmp_path / "subs.tsv").write_text(
        "gene\tsubcommunity\tmethod\n" + "".join(f"{g}\tc01/graph1\tgraph\n" for g in UNIVERSE[100:110])
    )
    out = tmp_path / "c01.tsv"
    assert main([
        "enrichment", "--genes", str(tmp_path / "genes.txt"), "--subcommunities", str(tmp_path / "subs.tsv"),
        "--community", "c01", "--background", str(tmp_path / "bg.txt"), "--library", f"toy={gmt}",
        "--out", str(out),
    ]) == 0
    return pd.read_csv(out, sep="\t")


def test_gseapy_columns_next_to_ours(tmp_path):
    df = _table(tmp_path)
    assert list(df.columns) == enr.OUTPUT_COLUMNS
    # the gseapy block follows our columns at a fixed position (universe columns after it)
    n = len(enr.COLUMNS)
    assert list(df.columns[:n]) == enr.COLUMNS and list(df.columns[n:n + len(enr.GSEAPY_COLUMNS)]) == enr.GSEAPY_COLUMNS
    assert (df["Term"] == df["term"]).all() and (df["Gene_set"] == df["library"]).all()
    np.testing.assert_allclose(df["P-value"], df["p_value"])
    np.testing.assert_allclose(df["Adjusted P-value"], df["fdr"])
    assert (df["Overlap"] == [f"{k}/30" for k in df["overlap"]]).all()
    np.testing.assert_allclose(df["Combined Score"], -np.log(df["P-value"]) * df["Odds Ratio"], rtol=1e-5)
    # the community's rows agree with gseapy.enrich on the same sets and background
    genes = UNIVERSE[:15] + UNIVERSE[300:310]
    sets = {}
    for line in (tmp_path / "toy.gmt").read_text().splitlines():
        t, _, *g = line.split("\t")
        sets[t] = g
    theirs = gseapy.enrich(gene_list=genes, gene_sets=sets, background=UNIVERSE, outdir=None, no_plot=True).results
    ours = df[df["set"] == "c01"].set_index("Term")
    theirs = theirs.set_index("Term").loc[ours.index]
    assert list(ours["Overlap"]) == list(theirs["Overlap"])
    np.testing.assert_allclose(ours["P-value"], theirs["P-value"], rtol=1e-4)
    np.testing.assert_allclose(ours["Odds Ratio"], theirs["Odds Ratio"], rtol=1e-4)


def test_gseapy_dotplot_draws_the_table(tmp_path):
    df = _table(tmp_path)
    ax = gseapy.dotplot(df[df["set"] == "c01"], column="Adjusted P-value", cutoff=1.0, top_term=5)
    assert isinstance(ax, matplotlib.axes.Axes)
    assert len(ax.collections) >= 1
    # communities and subcommunities side by side
    ax2 = gseapy.dotplot(df, x="set", column="P-value", cutoff=1.0, top_term=5)
    assert isinstance(ax2, matplotlib.axes.Axes)
    matplotlib.pyplot.close("all")
