"""``mpsomics panels-summary``: per-community panel rows in one table with BH across communities."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from mpsomics.cli import main
from mpsomics.commands import panels as panels_command
from mpsomics.commands import panels_summary
from mpsomics.validation.panels import SUMMARY_COLUMNS


def _row(community: str, p: float) -> pd.DataFrame:
    row = {c: 0.9 for c in SUMMARY_COLUMNS}
    row.update(community=community, n_sites=20, panel_size=4, panel_p=p, panel_genes="A,B,C,D",
               l1_genes="A,B,E,F")
    return pd.DataFrame([row], columns=list(SUMMARY_COLUMNS))


def test_joins_rows_in_order_and_adds_bh(tmp_path):
    paths = []
    for c, p in (("c02", 0.05), ("c01", 0.01)):
        path = tmp_path / f"{c}_summary.tsv"
        _row(c, p).to_csv(path, sep="\t", index=False)
        paths.append(str(path))
    out = tmp_path / "summary.tsv"
    assert main(["panels-summary", *paths, "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t")
    assert table["community"].tolist() == ["c02", "c01"]
    assert list(table.columns).index("panel_q") == list(table.columns).index("panel_p") + 1
    np.testing.assert_allclose(table["panel_q"], [0.05, 0.02])


def test_no_community_gives_a_header_only_table(tmp_path):
    out = tmp_path / "summary.tsv"
    assert main(["panels-summary", "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t")
    assert table.empty and "panel_q" in table.columns


def test_a_community_twice_is_refused_without_output(tmp_path, capsys):
    path = tmp_path / "c01_summary.tsv"
    _row("c01", 0.05).to_csv(path, sep="\t", index=False)
    out = tmp_path / "summary.tsv"
    assert main(["panels-summary", str(path), str(path), "--out", str(out)]) == 2
    assert not out.exists()
    assert "c01" in capsys.readouterr().err


def test_panels_help_names_both_outputs():
    parser = argparse.ArgumentParser()
    panels_command.add_arguments(parser)
    text = parser.format_help()
    assert "{community}.tsv" in text and "{community}_summary.tsv" in text
    parser = argparse.ArgumentParser()
    panels_summary.add_arguments(parser)
    assert "results/panels/summary.tsv" in parser.format_help()
