"""Per-sample scores (omics.scores, `mpsomics scores`): MPS probability per community,
signed mean z-score per subcommunity, TSV and .obsm."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from helpers.dense import random_state

from mpsomics.cli import main
from mpsomics.commands import scores as scores_command
from mpsomics.mps.contract import scores as mps_scores
from mpsomics.mps.state import save_model
from mpsomics.omics import scores


@pytest.fixture(scope="module")
def prepared(make_prepared):
    return make_prepared("scores", 40, 8, 30)[0]


def _model(genes, seed=1):
    state = random_state(len(genes), 3, n_classes=2, label_site=1, seed=seed)
    state.genes, state.classes = list(genes), ["normal", "tumor"]
    return state


def test_community_probability_is_the_born_rule(prepared):
    adata = ad.read_h5ad(prepared)
    model = _model(["G2", "G3", "G5", "G6"])
    p = scores.community_probability(adata, model, "tumor")
    f = mps_scores(model, adata[:, model.genes].X)
    np.testing.assert_allclose(p, f[:, 1] ** 2 / (f**2).sum(axis=1), rtol=1e-10)
    assert ((p >= 0) & (p <= 1)).all()


def test_subcommunity_score_signed_mean_z(prepared):
    adata = ad.read_h5ad(prepared)
    # G2 drives the label up (planted x2 + x5 > 1); a mirrored copy of it goes down
    adata.layers["log"][:, 7] = -adata.layers["log"][:, 2]
    s = scores.subcommunity_score(adata, ["G2", "G7"], "tumor")
    x = adata.layers["log"]
    train = (adata.obs["split"] == "train").to_numpy()
    z2 = (x[:, 2] - x[train, 2].mean()) / x[train, 2].std(ddof=1)
    z7 = (x[:, 7] - x[train, 7].mean()) / x[train, 7].std(ddof=1)
    np.testing.assert_allclose(s, (z2 - z7) / 2)  # sign of G7 is -1: both terms agree
    np.testing.assert_allclose(s, z2)
    tumor = (adata.obs["label"] == "tumor").to_numpy()
    assert s[tumor].mean() > s[~tumor].mean()


def test_cli_writes_tsv_and_obsm(tmp_path, prepared):
    (tmp_path / "selected.txt").write_text("c01\nc02\n")
    models = []
    for c, genes in (("c01", ["G2", "G3", "G5"]), ("c02", ["G0", "G1", "G4", "G7"])):
        save_model(_model(genes), tmp_path / f"{c}.npz")
        models.append(str(tmp_path / f"{c}.npz"))
    (tmp_path / "c01.tsv").write_text("gene\tsubcommunity\tmethod\nG2\tc01/graph1\tgraph\nG5\tc01/graph1\tgraph\n")
    (tmp_path / "c02.tsv").write_text("gene\tsubcommunity\tmethod\n")
    out = tmp_path / "scores"
    rc = main(["scores", "--expression", str(prepared), "--selected", str(tmp_path / "selected.txt"),
               "--models", *models, "--subcommunities", str(tmp_path / "c01.tsv"), str(tmp_path / "c02.tsv"),
               "--out-dir", str(out)])
    assert rc == 0
    table = pd.read_csv(out / scores_command.TSV, sep="\t")
    assert list(table.columns) == [*scores.SAMPLE_COLUMNS, "c01", "c02", "c01/graph1"]
    assert len(table) == 40
    scored = ad.read_h5ad(out / scores_command.H5AD)
    assert list(scored.obsm[scores.OBSM_COMMUNITIES].columns) == ["c01", "c02"]
    assert list(scored.obsm[scores.OBSM_SUBCOMMUNITIES].columns) == ["c01_graph1"]
    assert list(scored.uns["scores"]["subcommunity_ids"]) == ["c01/graph1"]
    np.testing.assert_allclose(scored.obsm[scores.OBSM_COMMUNITIES]["c02"].to_numpy(), table["c02"], rtol=1e-5)
    np.testing.assert_allclose(scored.obsm[scores.OBSM_SUBCOMMUNITIES]["c01_graph1"].to_numpy(),
                               table["c01/graph1"], rtol=1e-5)
    assert (scored.obs_names == table["sample"]).all()


def test_cli_count_mismatch_exits_2(tmp_path, prepared, capsys):
    (tmp_path / "selected.txt").write_text("c01\n")
    rc = main(["scores", "--expression", str(prepared), "--selected", str(tmp_path / "selected.txt"),
               "--out-dir", str(tmp_path / "o")])
    assert rc == 2
    assert "lists 1 communities but --models has 0 files" in capsys.readouterr().err


def test_cli_no_community(tmp_path, prepared):
    (tmp_path / "selected.txt").write_text("")
    rc = main(["scores", "--expression", str(prepared), "--selected", str(tmp_path / "selected.txt"),
               "--out-dir", str(tmp_path / "o")])
    assert rc == 0
    table = pd.read_csv(tmp_path / "o" / "scores.tsv", sep="\t")
    assert list(table.columns) == scores.SAMPLE_COLUMNS
