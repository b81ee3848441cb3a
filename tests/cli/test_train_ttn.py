"""``mpsomics train --model ttn`` writes the MPS train files; observe, grokking, subcommunities run on them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.dynamics import training_run
from mpsomics.mps.fit import HISTORY_COLUMNS
from mpsomics.ttn.observables import entropy
from mpsomics.ttn.state import load_ttn
from mpsomics.ttn.tree import gene_tree

pytest.importorskip("anndata")
pytest.importorskip("torch")

EPOCHS = 4


@pytest.fixture(scope="module")
def ttn_run(make_prepared, tmp_path_factory):
    h5, genes = make_prepared("ttn", 48, 7, 36)
    out = tmp_path_factory.mktemp("ttn_run") / "c01"
    rc = main([
        "train", "--model", "ttn", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(out),
        "--bond-dim", "4", "--epochs", str(EPOCHS), "--observe-every", "1", "--lr", "0.05",
        "--method", "sweep", "--community", "c01",
    ])  # fmt: skip
    assert rc == 0
    return h5, genes, out


def test_train_ttn_writes_all_files(ttn_run):
    h5, genes_path, out = ttn_run
    for name in ("model.npz", "history.tsv", "entanglement_trajectory.tsv",
                 "magnetization_trajectory.tsv", "correlations_trajectory.npz", "tree.tsv",
                 "run_info.json"):  # fmt: skip
        assert (out / name).is_file(), name
    state = load_ttn(out / "model.npz")
    n = state.n_leaves
    assert n == 7
    hist = training_run.load_history(out)
    assert list(hist.columns) == HISTORY_COLUMNS
    assert list(hist["epoch"]) == list(range(EPOCHS + 1))
    ent = training_run.load_entanglement(out)
    assert sorted(ent["bond"].unique()) == list(range(2 * n - 3))  # root edge counted once
    mag = training_run.load_magnetization(out)
    assert list(mag.drop_duplicates("site")["gene"]) == state.genes
    epochs, classes, genes, conn = training_run.load_correlations(out)
    assert genes == state.genes and conn.shape == (EPOCHS + 1, 2, n, n)
    # the tree is built on the training samples only, sites in its leaf order
    import anndata as ad

    adata = ad.read_h5ad(h5)
    gene_list = genes_path.read_text().split()
    train = adata.obs["split"].to_numpy() == "train"
    parent, ordered = gene_tree(np.asarray(adata[:, gene_list].X)[train], gene_list)
    assert ordered == state.genes and np.array_equal(parent, state.parent)
    tree = pd.read_csv(out / "tree.tsv", sep="\t")
    assert list(tree["parent"]) == list(state.parent)
    assert tree["n_genes"].iloc[-1] == n
    info = json.loads((out / "run_info.json").read_text())
    assert info["model"] == "ttn"
    # the last trajectory epoch is the saved model
    last = ent[ent["epoch"] == EPOCHS]
    for li, label in enumerate(state.classes):
        want = entropy(state, li)[: 2 * n - 3]
        got = last[last["label"] == label].sort_values("bond")["entropy"].to_numpy()
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_observe_ttn_matches_engine(ttn_run, tmp_path):
    h5, genes, out = ttn_run
    obs_dir = tmp_path / "obs"
    assert main(["observe", "--model", str(out / "model.npz"), "--out-dir", str(obs_dir),
                 "--genes", str(genes), "--expression", str(h5)]) == 0  # fmt: skip
    state = load_ttn(out / "model.npz")
    n = state.n_leaves
    table = pd.read_csv(obs_dir / "entanglement.tsv", sep="\t")
    for li, label in enumerate(state.classes):
        got = table[table["label"] == label].sort_values("bond")["entropy"].to_numpy()
        np.testing.assert_allclose(got, entropy(state, li)[: 2 * n - 3], atol=1e-10)
    rho = pd.read_csv(obs_dir / "label_density.tsv", sep="\t").set_index("label").to_numpy()
    assert np.isclose(np.trace(rho), 1.0) and np.allclose(rho, rho.T)
    assert np.all(np.linalg.eigvalsh(rho) > -1e-12)
    for label in state.classes:
        assert (obs_dir / "correlations" / f"{label}.tsv").is_file()
    summary = json.loads((obs_dir / "summary.json").read_text())
    assert summary["model_kind"] == "ttn" and summary["n_sites"] == n


def test_grokking_and_subcommunities_on_ttn(ttn_run, tmp_path):
    _, _, out = ttn_run
    grok = tmp_path / "grokking" / "c01.tsv"
    assert main(["grokking", "--history", str(out / "history.tsv"),
                 "--entanglement", str(out / "entanglement_trajectory.tsv"),
                 "--community", "c01", "--out", str(grok)]) == 0  # fmt: skip
    assert grok.is_file()
    sub = tmp_path / "subcommunities"
    assert main(["subcommunities", "--correlations", str(out / "correlations_trajectory.npz"),
                 "--magnetization", str(out / "magnetization_trajectory.tsv"),
                 "--grokking", str(grok), "--community", "c01", "--out-dir", str(sub)]) == 0  # fmt: skip
    assert (sub / "c01.tsv").is_file()
