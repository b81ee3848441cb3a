"""The graph method on the quantum mutual information of the final model (``--graph-measure``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.dense import random_state

from mpsomics.cli import main
from mpsomics.dynamics import training_run
from mpsomics.mps.state import save_model
from mpsomics.omics import subcommunities as sc

anndata = pytest.importorskip("anndata")
# The planted-module generator of the acceptance test (its directory is on sys.path
# under pytest's default import mode).
from test_planted import CLASSES, GENES, MODULE, jaccard, make_community  # noqa: E402

COMMUNITY = "c01"


# --------------------------------------------------------------------------- units


def _final(n: int = 12, block=(2, 3, 4, 5), other=(8, 9, 10), epoch: int = 7) -> sc.FinalState:
    """MI ~0.1 inside ``block`` and ``other``, ~0.001 elsewhere; only ``block`` has contrast."""
    rng = np.random.default_rng(0)
    mi = rng.uniform(0.0, 0.002, (2, n, n))
    for k in range(2):
        for b in (block, other):
            mi[k][np.ix_(b, b)] = rng.uniform(0.08, 0.12, (len(b), len(b)))
        mi[k] = (mi[k] + mi[k].T) / 2
        np.fill_diagonal(mi[k], 0.5)
    mag = np.zeros((2, n))
    mag[0, list(block)], mag[1, list(block)] = 0.4, -0.4  # contrast 0.4
    return sc.FinalState(epoch=epoch, mutual_information=mi, magnetization=mag)


def test_mutual_information_graph_clusters_and_filters():
    genes = [f"G{i}" for i in range(12)]
    final = _final()
    res = sc.mutual_information_graph(["a", "b"], genes, final, mi_threshold=0.03, min_contrast=0.0)
    assert res.clusters == [["G2", "G3", "G4", "G5"], ["G8", "G9", "G10"]]  # largest first
    assert res.epochs == {"a": 7, "b": 7} and res.threshold == 0.03
    np.testing.assert_allclose(np.diag(res.weights), 0.0)
    np.testing.assert_allclose(res.weights[2, 3], final.mutual_information[:, 2, 3].mean())
    assert res.degree["G2"] == 3
    filtered = sc.mutual_information_graph(["a", "b"], genes, final, mi_threshold=0.03, min_contrast=0.15)
    assert filtered.clusters == [["G2", "G3", "G4", "G5"]]
    assert any("dropped" in n for n in filtered.notes)
    assert sc.mutual_information_graph(["a", "b"], genes, final, mi_threshold=0.2).clusters == []
    with pytest.raises(ValueError, match="shape"):
        sc.mutual_information_graph(["a"], genes, final)


def test_model_epoch_matches_the_trajectory():
    genes, classes = ["x", "y", "z"], ["a", "b"]
    rng = np.random.default_rng(1)
    mags = {e: rng.uniform(-1, 1, (2, 3)) for e in (0, 5, 10)}
    rows = [{"epoch": e, "label": lab, "site": i, "gene": g, "magnetization": m[k, i]}
            for e, m in mags.items() for k, lab in enumerate(classes) for i, g in enumerate(genes)]  # fmt: skip
    frame = pd.DataFrame(rows)
    assert sc.model_epoch(frame, classes, genes, mags[5] + 1e-9) == (5, [])
    assert sc.model_epoch(frame, classes, genes, mags[10]) == (10, [])
    epoch, notes = sc.model_epoch(frame, classes, genes, mags[5] + 0.01)
    assert epoch == 10 and "match no recorded epoch" in notes[0] and "closest: epoch 5" in notes[0]


def test_table_needs_the_final_state_and_a_known_measure():
    conn = np.zeros((1, 2, 4, 4))
    mag = pd.DataFrame([{"epoch": 0, "label": c, "site": i, "gene": f"G{i}", "magnetization": 0.0}
                        for c in ("a", "b") for i in range(4)])  # fmt: skip
    args = (np.array([0]), ["a", "b"], [f"G{i}" for i in range(4)], conn, mag)
    with pytest.raises(ValueError, match="final"):
        sc.subcommunity_table(*args, community="c", transition_epoch=None, graph_measure="mutual_information")
    with pytest.raises(ValueError, match="graph measure"):
        sc.subcommunity_table(*args, community="c", transition_epoch=None, graph_measure="max")
    # the paper method alone does not need the model
    table, _ = sc.subcommunity_table(*args, community="c", transition_epoch=None, methods=["paper"],
                                     graph_measure="mutual_information")  # fmt: skip
    assert table.empty


# ------------------------------------------------------------- planted module, CLI


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory) -> dict[str, Path]:
    """train (pipeline defaults) -> grokking on the planted-module community, data seed 0."""
    root = tmp_path_factory.mktemp("planted_mi")
    h5, genes, mps = root / "expression.h5ad", root / "genes.txt", root / "mps"
    make_community(0, discriminative=True).write_h5ad(h5)
    genes.write_text("\n".join(GENES) + "\n")
    assert main(["train", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(mps),
                 "--checkpoint-every", "0"]) == 0  # fmt: skip
    grok = root / "grokking.tsv"
    assert main(["grokking", "--history", str(mps / training_run.HISTORY_FILE),
                 "--entanglement", str(mps / training_run.ENTANGLEMENT_FILE),
                 "--community", COMMUNITY, "--out", str(grok)]) == 0  # fmt: skip
    return {"mps": mps, "grokking": grok}


def _args(run: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["subcommunities",
            "--correlations", str(run["mps"] / training_run.CORRELATIONS_FILE),
            "--magnetization", str(run["mps"] / training_run.MAGNETIZATION_FILE),
            "--grokking", str(run["grokking"]), "--community", COMMUNITY, "--out-dir", str(out), *extra]  # fmt: skip


def test_mutual_information_graph_recovers_planted_module(planted_run, tmp_path):
    """At the default --mi-threshold the MI graph reports the planted module, and only it
    (the co-expressed background blocks are clustered, then dropped by the contrast filter)."""
    out = tmp_path / "sub"
    assert main(_args(planted_run, out, "--graph-measure", "mutual_information",
                      "--model", str(planted_run["mps"] / "model.npz"))) == 0  # fmt: skip
    table = pd.read_csv(out / f"{COMMUNITY}.tsv", sep="\t")
    graph = table[table["method"] == "graph"]
    subs = [set(g["gene"]) for _, g in graph.groupby("subcommunity")]
    assert len(subs) == 1 and jaccard(subs[0], MODULE) >= 0.8
    assert (graph["threshold"] == sc.DEFAULTS["mi_threshold"]).all()
    last = int(training_run.load_correlations(planted_run["mps"] / training_run.CORRELATIONS_FILE)[0][-1])
    assert (graph[[f"epoch_{c}" for c in CLASSES]] == last).all().all()  # the final model's epoch
    # the paper method still works on the connected correlations: same rows as without the option
    assert main(_args(planted_run, tmp_path / "connected")) == 0
    connected = pd.read_csv(tmp_path / "connected" / f"{COMMUNITY}.tsv", sep="\t")
    pd.testing.assert_frame_equal(table[table["method"] == "paper"].reset_index(drop=True),
                                  connected[connected["method"] == "paper"].reset_index(drop=True))


def test_mutual_information_needs_the_run_model(planted_run, tmp_path, capsys):
    out = tmp_path / "sub"
    assert main(_args(planted_run, out, "--graph-measure", "mutual_information")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--model" in err[0]
    other = tmp_path / "other.npz"
    save_model(random_state(5, 2, seed=0), other)
    assert main(_args(planted_run, out, "--graph-measure", "mutual_information", "--model", str(other))) == 2
    assert "not the model of this run" in capsys.readouterr().err
    assert not out.exists()
    # --model is ignored by the default measure and by the paper method alone
    assert main(_args(planted_run, out, "--model", str(other))) == 0
    assert main(_args(planted_run, tmp_path / "paper", "--methods", "paper",
                      "--graph-measure", "mutual_information")) == 0  # fmt: skip
