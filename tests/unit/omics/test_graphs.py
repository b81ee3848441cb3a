"""GraphML of the co-expression network and of a community's MPS correlation graph
(omics.graphs, `mpsomics graph-network`, `mpsomics graph-community`), read back with networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from helpers.dense import random_state

from mpsomics.cli import main
from mpsomics.commands import graph_community, graph_network
from mpsomics.commands import graphs as graphs_command
from mpsomics.mps import observables as ob
from mpsomics.omics import graphs


def test_stage_modules_are_the_graphs_commands():
    assert graph_network.run is graphs_command.run_network
    assert graph_community.run is graphs_command.run_community


def test_coexpression_graphml_round_trip(tmp_path):
    (tmp_path / "communities.tsv").write_text(
        "gene\tcommunity\tdegree\tpath\nA\tc01\t2\t0/0\nB\tc01\t1\t0/0\nC\tc01\t1\t0/1\nD\tc02\t1\t1\n"
        "E\tc02\t1\t1\n"
    )
    (tmp_path / "network.tsv").write_text("gene1\tgene2\tweight\nA\tB\t0.8\nA\tC\t0.65\nD\tE\t0.9\n")
    (tmp_path / "selected.txt").write_text("c01\n")
    out = tmp_path / "graphs" / "coexpression.graphml"
    assert main(["graph-network", "--network", str(tmp_path / "network.tsv"),
                 "--communities", str(tmp_path / "communities.tsv"),
                 "--selected", str(tmp_path / "selected.txt"), "--out", str(out)]) == 0
    g = nx.read_graphml(out)
    assert set(g.nodes) == set("ABCDE")
    assert {frozenset(e) for e in g.edges} == {frozenset("AB"), frozenset("AC"), frozenset("DE")}
    assert g.edges["A", "B"]["weight"] == 0.8
    assert g.nodes["A"] == {"community": "c01", "degree": 2, "path": "0/0", "selected": True}
    assert g.nodes["D"]["selected"] is False
    assert (tmp_path / "graphs" / "coexpression.run_info.json").exists()


def _train_files(tmp_path, genes, classes):
    states = [random_state(len(genes), 3, n_classes=2, label_site=2, seed=s) for s in (0, 1)]
    epochs = np.array([0, 5])
    connected = np.stack([np.stack([ob.correlation(st, k) for k in range(2)]) for st in states])
    np.savez(tmp_path / "correlations_trajectory.npz", epochs=epochs, classes=np.array(classes),
             genes=np.array(genes), connected=connected.astype(np.float32))
    rows = [(int(e), lab, s, genes[s], float(ob.magnetization(st, k)[s]))
            for e, st in zip(epochs, states, strict=True) for k, lab in enumerate(classes) for s in range(len(genes))]
    pd.DataFrame(rows, columns=["epoch", "label", "site", "gene", "magnetization"]).to_csv(
        tmp_path / "magnetization_trajectory.tsv", sep="\t", index=False)
    return epochs, connected, states


def test_community_graphml_round_trip(tmp_path):
    genes, classes = ["G0", "G1", "G2", "G3", "G4", "G5"], ["normal", "tumor"]
    epochs, connected, states = _train_files(tmp_path, genes, classes)
    # the subcommunity was chosen at epoch 0 for normal, epoch 5 for tumor
    (tmp_path / "c01.tsv").write_text(
        "gene\tsubcommunity\tmethod\tepoch_normal\tepoch_tumor\n"
        "G1\tc01/paper\tpaper\t0\t5\nG2\tc01/paper\tpaper\t0\t5\n"
    )
    out = tmp_path / "c01.graphml"
    assert main(["graph-community", "--community", "c01",
                 "--correlations", str(tmp_path / "correlations_trajectory.npz"),
                 "--magnetization", str(tmp_path / "magnetization_trajectory.tsv"),
                 "--subcommunities", str(tmp_path / "c01.tsv"), "--min-correlation", "0", "--out", str(out)]) == 0
    g = nx.read_graphml(out)
    assert list(g.nodes) == genes and g.number_of_edges() == 15  # complete at threshold 0
    assert g.nodes["G1"]["subcommunity"] == "c01/paper" and g.nodes["G1"]["in_subcommunity"] is True
    assert g.nodes["G0"]["subcommunity"] == "" and g.nodes["G0"]["site"] == 0
    assert g.edges["G1", "G2"]["subcommunity"] == "c01/paper" and g.edges["G0", "G1"]["subcommunity"] == ""
    c_normal, c_tumor = connected[0, 0], connected[1, 1]
    np.testing.assert_allclose(g.edges["G0", "G3"]["corr_normal"], c_normal[0, 3], rtol=1e-6)
    np.testing.assert_allclose(g.edges["G0", "G3"]["corr_tumor"], c_tumor[0, 3], rtol=1e-6)
    np.testing.assert_allclose(g.edges["G0", "G3"]["weight"], (abs(c_normal[0, 3]) + abs(c_tumor[0, 3])) / 2, rtol=1e-6)
    m_n, m_t = ob.magnetization(states[0], 0)[4], ob.magnetization(states[1], 1)[4]
    np.testing.assert_allclose(g.nodes["G4"]["magnetization_tumor"], m_t, rtol=1e-6)
    np.testing.assert_allclose(g.nodes["G4"]["contrast"], abs(m_t - m_n) / 2, rtol=1e-6)
    # a threshold keeps only the strong pairs
    strong = graphs.community_graph("c01", epochs, classes, genes, connected,
                                    pd.read_csv(tmp_path / "magnetization_trajectory.tsv", sep="\t"),
                                    pd.DataFrame(columns=["gene", "subcommunity"]), min_correlation=0.3)
    w = (np.abs(connected[-1, 0]) + np.abs(connected[-1, 1])) / 2  # no epochs named: the last one
    iu = np.triu_indices(6, 1)
    assert strong.number_of_edges() == int((w[iu] >= 0.3).sum())
