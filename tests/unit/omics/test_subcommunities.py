"""Subcommunities: planted correlated gene blocks must be recovered, and only those."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.dynamics import training_run
from mpsomics.omics import subcommunities

CLASSES = ["normal", "tumor"]
N = 30
GENES = [f"G{i:02d}" for i in range(N)]
EPOCHS = np.array([0, 10, 20, 30, 40])
TRANSITION = 20
BLOCK = [3, 5, 8, 11, 14, 20, 22, 27]  # strongly correlated in both labels
ONE_LABEL = [1, 6, 16, 24, 29]  # strongly correlated in "tumor" only


def jaccard(a, b) -> float:
    a, b = set(a), set(b)
    return len(a & b) / len(a | b)


def planted_connected(
    rng: np.random.Generator, both=BLOCK, tumor_only=ONE_LABEL, strong_epochs=(20, 30)
) -> np.ndarray:
    """(E, C, N, N): noise |C| <= 0.05; blocks |C| ~ 0.7 (mixed signs) at ``strong_epochs``."""
    conn = np.empty((EPOCHS.size, len(CLASSES), N, N))
    for e, epoch in enumerate(EPOCHS):
        for k, lab in enumerate(CLASSES):
            c = rng.uniform(-0.05, 0.05, (N, N))
            if epoch in strong_epochs:
                blocks = [both] + ([tumor_only] if lab == "tumor" else [])
                for block in blocks:
                    for a in block:
                        for b in block:
                            c[a, b] = rng.choice([-1, 1]) * rng.uniform(0.65, 0.75)
            c = np.triu(c, 1)
            c = c + c.T
            np.fill_diagonal(c, 0.9)
            conn[e, k] = c
    return conn


def write_train_dir(d: Path, conn: np.ndarray, rng: np.random.Generator) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    np.savez(
        d / training_run.CORRELATIONS_FILE,
        epochs=EPOCHS,
        classes=np.array(CLASSES),
        genes=np.array(GENES),
        connected=conn.astype(np.float32),
    )
    rows = [
        {"epoch": int(e), "label": lab, "site": i, "gene": g, "magnetization": float(rng.uniform(-0.5, 0.5))}
        for e in EPOCHS
        for lab in CLASSES
        for i, g in enumerate(GENES)
    ]
    pd.DataFrame(rows).to_csv(d / training_run.MAGNETIZATION_FILE, sep="\t", index=False)
    return d


def train_files(d: Path) -> list[str]:
    """``--correlations``/``--magnetization`` options of the train directory ``d``."""
    return ["--correlations", str(d / training_run.CORRELATIONS_FILE),
            "--magnetization", str(d / training_run.MAGNETIZATION_FILE)]


def write_grokking(path: Path, community: str = "c01", transition: int | None = TRANSITION) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = "" if transition is None else str(transition)
    path.write_text(
        "community\ttransition_epoch\tmax_rate_epoch\tjump_epoch\tgrokking\n"
        f"{community}\t{t}\t18\t24\tTrue\n"
    )
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_intersection_method_recovers_planted_block_only(rng):
    conn = planted_connected(rng)
    res = subcommunities.intersection_method(EPOCHS, CLASSES, GENES, conn, transition_epoch=TRANSITION)
    planted = [GENES[i] for i in BLOCK]
    assert res.genes == planted  # exactly, in site order; the tumor-only block is excluded
    assert jaccard(res.genes, planted) == 1.0
    assert all(res.degree[g] == len(BLOCK) - 1 for g in planted)
    assert len(res.pairs) == len(BLOCK) * (len(BLOCK) - 1) // 2
    # both strong epochs tie; the one closest to the transition wins
    assert res.epochs == {"normal": 20, "tumor": 20}

    curve = res.curve
    assert list(curve.columns) == ["label", "threshold", "epoch", "n_pairs", "chosen"]
    assert sorted(curve["threshold"].unique()) == pytest.approx([0.1 * i for i in range(10)])
    for lab, grp in curve.groupby("label"):
        n = grp.sort_values("threshold")["n_pairs"].to_numpy()
        assert (np.diff(n) <= 0).all(), f"curve of {lab} increases"
        assert n[0] == N * (N - 1) // 2  # every pair is non-zero noise at t = 0
    chosen = curve[curve["chosen"]].set_index("label")
    assert chosen["threshold"].tolist() == [0.5, 0.5]
    assert chosen.loc["normal", "n_pairs"] == 28 and chosen.loc["tumor", "n_pairs"] == 28 + 10


def test_block_in_one_label_only_gives_empty_paper_subcommunity(rng, caplog):
    conn = planted_connected(rng, both=[])
    with caplog.at_level(logging.WARNING, logger="mpsomics.omics.subcommunities"):
        res = subcommunities.intersection_method(EPOCHS, CLASSES, GENES, conn, transition_epoch=TRANSITION)
    assert res.genes == [] and res.pairs == []
    assert any("empty paper subcommunity" in r.message for r in caplog.records)


def test_graph_method_recovers_planted_block(rng):
    conn = planted_connected(rng, tumor_only=[])
    res = subcommunities.graph_method(EPOCHS, CLASSES, GENES, conn, transition_epoch=TRANSITION, seed=0)
    planted = [GENES[i] for i in BLOCK]
    assert len(res.clusters) >= 1
    assert jaccard(res.clusters[0], planted) >= 0.8
    assert res.clusters[0] == planted
    assert all(res.degree[g] == len(BLOCK) - 1 for g in planted)
    again = subcommunities.graph_method(EPOCHS, CLASSES, GENES, conn, transition_epoch=TRANSITION, seed=0)
    assert again.clusters == res.clusters  # seeded: deterministic


def test_graph_method_magnetization_weighting_and_two_blocks(rng):
    conn = planted_connected(rng)  # both-label block + tumor-only block (mean |C| ~ 0.35 > 0.3)
    mag = rng.uniform(-1, 1, (2, N))
    res = subcommunities.graph_method(
        EPOCHS, CLASSES, GENES, conn, transition_epoch=TRANSITION, magnetization=mag, magnetization_weight=1.0
    )
    assert [set(c) for c in res.clusters] == [{GENES[i] for i in BLOCK}, {GENES[i] for i in ONE_LABEL}]


def test_window_fallback_without_transition(rng):
    conn = planted_connected(rng, strong_epochs=(40,))
    # transition 10 ± 10 covers epochs 0..20 where there is only noise: the paper method
    # honestly finds nothing there (no genes invented) ...
    res = subcommunities.intersection_method(EPOCHS, CLASSES, GENES, conn, transition_epoch=10)
    assert res.genes == []
    # ... while without a transition all recorded epochs are candidates
    res = subcommunities.intersection_method(EPOCHS, CLASSES, GENES, conn, transition_epoch=None)
    assert res.genes == [GENES[i] for i in BLOCK] and res.epochs["normal"] == 40
    assert "no entanglement transition" in res.notes[0]
    # a window containing no recorded epoch also falls back to all epochs
    res = subcommunities.intersection_method(EPOCHS, CLASSES, GENES, conn, transition_epoch=100, epoch_window=5)
    assert res.genes == [GENES[i] for i in BLOCK]


def test_cli_end_to_end(tmp_path, rng):
    d = write_train_dir(tmp_path / "mps" / "c01", planted_connected(rng), rng)
    g = write_grokking(tmp_path / "grokking" / "c01.tsv")
    out, curve = tmp_path / "sub" / "c01.tsv", tmp_path / "sub" / "c01_curve.tsv"
    argv = ["subcommunities", *train_files(d), "--grokking", str(g), "--community", "c01",
            "--out-dir", str(out.parent),
            # correlation structure only: no contrast gate, the planted blocks' scale
            "--min-contrast", "0", "--graph-threshold", "0.3"]  # fmt: skip
    assert main(argv) == 0
    df = pd.read_csv(out, sep="\t")
    assert list(df.columns[:6]) == [
        "gene", "subcommunity", "method", "magnetization_normal", "magnetization_tumor", "degree",
    ]  # fmt: skip
    paper = df[df["method"] == "paper"]
    assert set(paper["subcommunity"]) == {"c01/paper"}
    assert paper["gene"].tolist() == [GENES[i] for i in BLOCK]
    assert (paper["degree"] == 7).all()
    graph = df[df["method"] == "graph"]
    assert set(graph["subcommunity"]) == {"c01/graph1", "c01/graph2"}
    assert set(graph.loc[graph["subcommunity"] == "c01/graph1", "gene"]) == {GENES[i] for i in BLOCK}
    # magnetization of the label's chosen epoch (20) from magnetization.tsv
    mag = training_run.load_magnetization(d)
    m = mag[(mag["epoch"] == 20) & (mag["label"] == "tumor")].set_index("gene")["magnetization"]
    assert paper["magnetization_tumor"].to_numpy() == pytest.approx(m[paper["gene"]].to_numpy())
    c = pd.read_csv(curve, sep="\t")
    assert list(c.columns) == ["label", "threshold", "epoch", "n_pairs", "chosen"]
    assert len(c) == 20

    # paper only, tumor-only block: zero paper rows, header still written
    d2 = write_train_dir(tmp_path / "mps" / "c02", planted_connected(rng, both=[]), rng)
    g2 = write_grokking(tmp_path / "grokking" / "c02.tsv", community="c02", transition=None)
    out2 = tmp_path / "sub" / "c02.tsv"
    assert main(["subcommunities", *train_files(d2), "--grokking", str(g2), "--community", "c02",
                 "--out-dir", str(out2.parent), "--methods", "paper"]) == 0  # fmt: skip
    df2 = pd.read_csv(out2, sep="\t")
    assert df2.empty and "magnetization_normal" in df2.columns


def _corrupt(d: Path, which: str) -> str:
    if which == "shape":
        z = dict(np.load(d / training_run.CORRELATIONS_FILE))
        z["connected"] = z["connected"][:, :, :5]
        np.savez(d / training_run.CORRELATIONS_FILE, **z)
        return training_run.CORRELATIONS_FILE
    if which == "nan":
        z = dict(np.load(d / training_run.CORRELATIONS_FILE))
        z["connected"][0, 0, 0, 1] = np.nan
        np.savez(d / training_run.CORRELATIONS_FILE, **z)
        return training_run.CORRELATIONS_FILE
    if which == "npz":
        (d / training_run.CORRELATIONS_FILE).write_text("not a zip")
        return training_run.CORRELATIONS_FILE
    if which == "mag_genes":
        m = pd.read_csv(d / training_run.MAGNETIZATION_FILE, sep="\t")
        m["gene"] = m["gene"].str.lower()
        m.to_csv(d / training_run.MAGNETIZATION_FILE, sep="\t", index=False)
        return training_run.MAGNETIZATION_FILE
    if which == "mag_missing":
        (d / training_run.MAGNETIZATION_FILE).unlink()
        return training_run.MAGNETIZATION_FILE
    raise AssertionError(which)


@pytest.mark.parametrize("which", ["shape", "nan", "npz", "mag_genes", "mag_missing"])
def test_malformed_inputs_fail_cleanly(tmp_path, rng, capsys, which):
    d = write_train_dir(tmp_path / "mps", planted_connected(rng), rng)
    name = _corrupt(d, which)
    g = write_grokking(tmp_path / "g.tsv")
    out, curve = tmp_path / "sub" / "c01.tsv", tmp_path / "sub" / "c01_curve.tsv"
    rc = main(["subcommunities", *train_files(d), "--grokking", str(g), "--community", "c01",
               "--out-dir", str(out.parent)])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err
    assert not out.exists() and not curve.exists()


def test_grokking_of_other_community_is_rejected(tmp_path, rng, capsys):
    d = write_train_dir(tmp_path / "mps", planted_connected(rng), rng)
    g = write_grokking(tmp_path / "g.tsv", community="c09")
    out = tmp_path / "sub" / "c01.tsv"
    assert main(["subcommunities", *train_files(d), "--grokking", str(g), "--community", "c01",
                 "--out-dir", str(out.parent)]) == 2  # fmt: skip
    assert "c09" in capsys.readouterr().err
    assert not out.exists()


def test_load_correlations_contract(tmp_path, rng):
    d = write_train_dir(tmp_path / "mps", planted_connected(rng), rng)
    epochs, classes, genes, conn = training_run.load_correlations(d)
    assert epochs.tolist() == EPOCHS.tolist() and classes == CLASSES and genes == GENES
    assert conn.shape == (5, 2, N, N) and conn.dtype == np.float64


def test_contrast_gate_drops_non_discriminative_clusters():
    """Two equally correlated blocks; only the one whose genes' magnetization differs
    between the classes survives ``min_contrast``."""
    n, epochs = 12, np.array([0, 1])
    c = np.zeros((2, 2, n, n))
    for block in (range(0, 5), range(6, 11)):
        for i in block:
            for j in block:
                c[:, :, i, j] = 0.4
    genes = [f"G{i}" for i in range(n)]
    mag = np.zeros((2, n))
    mag[0, 0:5], mag[1, 0:5] = 0.5, -0.5  # contrast 0.5 on the first block only
    res = subcommunities.graph_method(epochs, ["normal", "tumor"], genes, c, graph_threshold=0.1,
                       magnetization=mag, min_contrast=0.15)  # fmt: skip
    assert res.clusters == [genes[0:5]]
    assert any("dropped" in note for note in res.notes)
    ungated = subcommunities.graph_method(epochs, ["normal", "tumor"], genes, c, graph_threshold=0.1)
    assert {frozenset(cl) for cl in ungated.clusters} == {frozenset(genes[0:5]), frozenset(genes[6:11])}


def test_graph_steps_on_a_tiny_graph():
    w = np.zeros((5, 5))
    for i, j in ((0, 1), (1, 2), (0, 2), (3, 4)):
        w[i, j] = w[j, i] = 0.5
    ei, ej, ww = subcommunities.strong_edges(w, 0.1)
    assert list(zip(ei.tolist(), ej.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2), (3, 4)] and (ww == 0.5).all()
    clusters = subcommunities.leiden_clusters(ei, ej, ww, resolution=1.0, seed=0, min_size=3)
    assert clusters == [[0, 1, 2]]  # the pair {3, 4} is below min_size
    genes = ["a", "b", "c", "d", "e"]
    assert subcommunities.cluster_degrees(clusters, genes, ei, ej) == {"a": 2, "b": 2, "c": 2}
    notes: list[str] = []
    assert subcommunities.drop_low_contrast(clusters, genes, np.zeros(5), 0.1, notes) == [] and len(notes) == 1


def _three_blocks() -> tuple[np.ndarray, list[str], np.ndarray]:
    """Blocks A = 0-4 (DE: magnetization contrast 0.5, same correlations), B = 6-10
    (co-expressed in tumor only: |C| 0.6 vs 0.2, no magnetization contrast) and
    C = 12-16 (same correlations and magnetizations in both labels)."""
    n = 18
    c = np.zeros((2, 2, n, n))  # (epoch, label, i, j)
    for block, normal, tumor in ((range(0, 5), 0.4, 0.4), (range(6, 11), 0.2, 0.6), (range(12, 17), 0.4, 0.4)):
        for i in block:
            for j in block:
                c[:, 0, i, j], c[:, 1, i, j] = normal, tumor
    mag = np.zeros((2, n))
    mag[0, 0:5], mag[1, 0:5] = 0.5, -0.5
    return c, [f"G{i}" for i in range(n)], mag


def test_correlation_contrast_definition():
    """D_ij = max over label pairs of |C_k - C_l| / 2, zero diagonal; cluster value = mean over its pairs."""
    rng = np.random.default_rng(3)
    states = rng.uniform(-1, 1, (3, 5, 5))
    states = (states + states.transpose(0, 2, 1)) / 2
    d = subcommunities.correlation_contrast(states)
    for i in range(5):
        for j in range(5):
            want = 0.0 if i == j else max(abs(states[k, i, j] - states[m, i, j]) for k in range(3) for m in range(3)) / 2
            assert d[i, j] == pytest.approx(want)
    assert (d >= 0).all() and (d <= 1).all()
    pairs = [d[0, 2], d[0, 4], d[2, 4]]
    assert subcommunities.cluster_correlation_contrast([0, 2, 4], d) == pytest.approx(np.mean(pairs))
    assert np.isnan(subcommunities.cluster_correlation_contrast([0, 2, 4], None))


def test_correlation_gate_keeps_a_one_label_block():
    """The magnetization gate keeps only A; with the correlation gate B (D = 0.2 on every
    pair) is kept too, labelled by the gate that kept it; C (no contrast of either kind)
    is dropped whatever the thresholds."""
    c, genes, mag = _three_blocks()
    kw = dict(graph_threshold=0.1, magnetization=mag, min_contrast=0.15)
    only_mag = subcommunities.graph_method(np.array([0, 1]), CLASSES, genes, c, **kw)
    assert only_mag.clusters == [genes[0:5]] and only_mag.gates == ["contrast"]
    both = subcommunities.graph_method(np.array([0, 1]), CLASSES, genes, c, min_correlation_contrast=0.15, **kw)
    assert {frozenset(cl): g for cl, g in zip(both.clusters, both.gates, strict=True)} == {
        frozenset(genes[0:5]): "contrast", frozenset(genes[6:11]): "correlation"}
    cc = dict(zip(map(frozenset, both.clusters), both.correlation_contrast, strict=True))
    assert cc[frozenset(genes[6:11])] == pytest.approx(0.2) and cc[frozenset(genes[0:5])] == pytest.approx(0.0)
    assert any("dropped" in n and "correlation contrast 0.000" in n for n in both.notes)  # C
    # above B's 0.2 the correlation gate keeps nothing more than the magnetization gate
    high = subcommunities.graph_method(np.array([0, 1]), CLASSES, genes, c, min_correlation_contrast=0.25, **kw)
    assert high.clusters == only_mag.clusters
    # the correlation gate alone (magnetization gate off): B only
    alone = subcommunities.graph_method(np.array([0, 1]), CLASSES, genes, c, graph_threshold=0.1,
                                        min_contrast=0.0, min_correlation_contrast=0.15)  # fmt: skip
    assert alone.clusters == [genes[6:11]] and alone.gates == ["correlation"]
    # no gate on: everything, gate "none"; None and 0 both mean off
    for off in (None, 0.0):
        none = subcommunities.graph_method(np.array([0, 1]), CLASSES, genes, c, graph_threshold=0.1,
                                           min_contrast=0.0, min_correlation_contrast=off)  # fmt: skip
        assert len(none.clusters) == 3 and none.gates == ["none"] * 3


def test_gate_clusters_both_and_errors():
    d = np.full((4, 4), 0.3)
    notes: list[str] = []
    kept, gates = subcommunities.gate_clusters([[0, 1, 2]], list("abcd"), np.full(4, 0.5), 0.15, d, 0.2, notes)
    assert kept == [[0, 1, 2]] and gates == ["both"] and notes == []
    with pytest.raises(ValueError, match="correlations"):
        subcommunities.gate_clusters([[0, 1, 2]], list("abcd"), None, 0.0, None, 0.2, notes)


def test_table_gate_columns_and_cli_option(tmp_path, rng, capsys):
    """``correlation_contrast`` and ``gate`` are the last columns; paper rows have no gate;
    the option reaches the graph method; the mutual-information graph refuses it."""
    c, genes, mag = _three_blocks()
    epochs = np.array([0, 1])
    mag_rows = [{"epoch": e, "label": lab, "site": i, "gene": g, "magnetization": float(mag[k, i])}
                for e in epochs for k, lab in enumerate(CLASSES) for i, g in enumerate(genes)]  # fmt: skip
    d = tmp_path / "mps"
    d.mkdir()
    np.savez(d / training_run.CORRELATIONS_FILE, epochs=epochs, classes=np.array(CLASSES), genes=np.array(genes),
             connected=c.astype(np.float32))
    pd.DataFrame(mag_rows).to_csv(d / training_run.MAGNETIZATION_FILE, sep="\t", index=False)
    g = write_grokking(tmp_path / "g.tsv", transition=None)
    base = ["subcommunities", *train_files(d), "--grokking", str(g), "--community", "c01",
            "--graph-threshold", "0.1", "--threshold", "0.3"]  # fmt: skip
    assert main([*base, "--out-dir", str(tmp_path / "off")]) == 0
    off = pd.read_csv(tmp_path / "off" / "c01.tsv", sep="\t", keep_default_na=False)
    assert list(off.columns[-2:]) == ["correlation_contrast", "gate"]
    assert set(off.loc[off["method"] == "graph", "gate"]) == {"contrast"}
    assert set(off.loc[off["method"] == "paper", "gate"]) == {""}
    assert main([*base, "--out-dir", str(tmp_path / "on"), "--min-correlation-contrast", "0.15"]) == 0
    on = pd.read_csv(tmp_path / "on" / "c01.tsv", sep="\t")
    graph = on[on["method"] == "graph"].groupby("subcommunity")
    assert sorted((grp["gate"].iloc[0], len(grp)) for _, grp in graph) == [("contrast", 5), ("correlation", 5)]
    b = on[on["gene"].isin(genes[6:11]) & (on["method"] == "graph")]
    assert b["correlation_contrast"].to_numpy() == pytest.approx(0.2, abs=1e-6)
    from mpsomics.core.readers import read_subcommunities

    assert len(read_subcommunities(tmp_path / "on" / "c01.tsv")) == len(on)
    with pytest.raises(SystemExit) as bad:  # argparse: one usage line naming the option
        main([*base, "--out-dir", str(tmp_path / "bad"), "--min-correlation-contrast", "1.5"])
    assert bad.value.code == 2 and "--min-correlation-contrast" in capsys.readouterr().err
    assert main([*base, "--out-dir", str(tmp_path / "mi"), "--min-correlation-contrast", "0.1",
                 "--graph-measure", "mutual_information"]) == 2  # fmt: skip
    assert "--min-correlation-contrast" in capsys.readouterr().err
    assert not (tmp_path / "mi" / "c01.tsv").exists()
