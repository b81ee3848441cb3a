"""``mpsomics classical-subcommunities`` end to end on the planted community.

The planted module (``tests/unit/omics/test_planted.py``) shifts its mean between the
classes, so the classical method (co-expression Leiden + DE filter) must report it, and
the top-DE set of an MPS subcommunity must have that subcommunity's size.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.commands import classical_subcommunities as command
from mpsomics.core.readers import read_subcommunities, subcommunity_genes
from mpsomics.omics.classical import CLASSICAL_COLUMNS

anndata = pytest.importorskip("anndata")


def _planted():
    path = Path(__file__).resolve().parents[1] / "unit" / "omics" / "test_planted.py"
    spec = importlib.util.spec_from_file_location("planted_generator_classical", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


planted = _planted()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("classical")
    h5 = root / "expression.h5ad"
    planted.make_community(0, discriminative=True).write_h5ad(h5)
    genes = root / "c01.txt"
    genes.write_text("\n".join(planted.GENES) + "\n")
    mps = root / "mps.tsv"
    # an MPS table with one 4-gene subcommunity (only its size matters here)
    pd.DataFrame({"gene": planted.MODULE[:4], "subcommunity": "c01/graph1", "method": "graph"}).to_csv(
        mps, sep="\t", index=False)
    return {"h5ad": h5, "genes": genes, "mps": mps, "root": root}


def _args(inputs, out: Path, mps: Path | None = None, community: str = "c01") -> list[str]:
    return ["classical-subcommunities", "--expression", str(inputs["h5ad"]), "--genes", str(inputs["genes"]),
            "--subcommunities", str(mps or inputs["mps"]), "--community", community, "--out", str(out)]


def test_recovers_the_planted_module_and_sizes_top_de(inputs, tmp_path):
    out = tmp_path / "c01.tsv"
    assert main(_args(inputs, out)) == 0
    table = read_subcommunities(out)
    assert list(table.columns) == list(CLASSICAL_COLUMNS)
    sets = subcommunity_genes(table)
    classical = [g for s, g in sets.items() if s.startswith("c01/classical")]
    best = max(len(set(g) & set(planted.MODULE)) / len(set(g) | set(planted.MODULE)) for g in classical)
    assert best >= 0.8
    assert len(sets["c01/top_de:graph1"]) == 4
    assert set(table["method"]) == {"classical", "top_de"}


def test_header_only_mps_table_gives_no_top_de(inputs, tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("gene\tsubcommunity\tmethod\n")
    out = tmp_path / "c01.tsv"
    assert main(_args(inputs, out, empty)) == 0
    assert "top_de" not in set(read_subcommunities(out)["method"])


def test_subcommunity_of_another_community_is_refused(inputs, tmp_path, capsys):
    out = tmp_path / "c02.tsv"
    assert main(_args(inputs, out, community="c02")) == 2
    assert not out.exists()
    assert "c01/graph1" in capsys.readouterr().err


def test_help_names_the_output():
    import argparse

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert "results/classical/{community}.tsv" in parser.format_help()
