"""The HTML report renders from a complete synthetic results tree."""

from __future__ import annotations

import base64
import json
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.report import figures, html

CLASSES = ["normal", "tumor"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tsv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)


def write_results_tree(root: Path, *, n_genes: int = 8, epochs: int = 20, observe_every: int = 2) -> dict[str, Path]:
    """Write a minimal but complete results tree in the formats of docs/outputs.md.

    Two selected communities: ``c01`` with subcommunities (paper + graph methods) and
    significant enrichment including a "new" term; ``c02`` with a header-only
    subcommunity table and enrichment rows none of which is significant.

    Returns
    -------
    dict of the ``mpsomics report`` options: one path, or one path per community in
    ``selected.txt`` order (``genes`` ... ``enrichment``), as the workflow passes them.
    """
    import anndata as ad

    rng = np.random.default_rng(0)
    res = root / "results"
    comms = {c: [f"{c.upper()}G{i}" for i in range(n_genes)] for c in ("c01", "c02")}
    all_genes = [g for gs in comms.values() for g in gs] + [f"OTHER{i}" for i in range(20)]

    # prepare
    n = 40
    obs = pd.DataFrame(
        {
            "label": ["normal", "tumor"] * (n // 2),
            "group": [f"P{i // 2:02d}" for i in range(n)],
            "split": ["train"] * 28 + ["test"] * 12,
        },
        index=[f"S{i:02d}" for i in range(n)],
    )
    adata = ad.AnnData(rng.uniform(size=(n, len(all_genes))), obs=obs, var=pd.DataFrame(index=all_genes))
    adata.uns["positive_label"] = "tumor"
    adata.uns["classes"] = CLASSES
    adata.uns["prepare"] = {"min_mean": 1.0, "n_dropped": 3}
    adata.layers["log"] = 8.0 * adata.X  # the prepared contract (core.readers.read_prepared)
    expression = res / "prepared" / "expression.h5ad"
    expression.parent.mkdir(parents=True)
    adata.write_h5ad(expression)

    # communities
    cdir = res / "communities"
    _tsv(pd.DataFrame([(g, c, 3) for c, gs in comms.items() for g in gs], columns=["gene", "community", "degree"]),
         cdir / "communities.tsv")
    _tsv(pd.DataFrame([(c, n_genes, m, ba, 0.8, 0.7, 0.85, True)
                       for c in comms for m, ba in (("logistic_regression", 0.81), ("random_forest", 0.77))],
                      columns=["community", "n_genes", "model", "balanced_accuracy", "sensitivity",
                               "specificity", "roc_auc", "selected"]), cdir / "baseline.tsv")
    (cdir / "selected.txt").write_text("c01\nc02\n")
    for c, gs in comms.items():
        (cdir / "genes").mkdir(exist_ok=True)
        (cdir / "genes" / f"{c}.txt").write_text("\n".join(gs) + "\n")

    # train
    ep = np.arange(epochs + 1)
    observed = sorted(set(range(0, epochs + 1, observe_every)) | {epochs})
    for c, gs in comms.items():
        d = res / "mps" / c
        d.mkdir(parents=True)
        test_ba = np.where(ep < 12, 0.55, 0.93)
        hist = pd.DataFrame({
            "epoch": ep, "loss": 1.0 / (1 + ep), "train_accuracy": np.minimum(1, 0.5 + ep / 10),
            "train_balanced_accuracy": np.minimum(1, 0.5 + ep / 10), "train_sensitivity": 0.9,
            "train_specificity": 0.9, "test_accuracy": test_ba, "test_balanced_accuracy": test_ba,
            "test_sensitivity": 0.9, "test_specificity": 0.9, "seconds": 0.1, "max_bond": 4,
        })
        _tsv(hist, d / "history.tsv")
        rows = []
        for e in observed:
            level = 1 + np.sin(np.pi * e / epochs)  # rises then falls: a transition
            for lab in CLASSES:
                rows += [(e, lab, b, float(level * (1 - abs(b - n_genes / 2) / n_genes))) for b in range(n_genes - 1)]
        _tsv(pd.DataFrame(rows, columns=["epoch", "label", "bond", "entropy"]), d / "entanglement_trajectory.tsv")
        _tsv(pd.DataFrame([(e, lab, s, g, float(np.tanh(rng.normal())))
                           for e in observed for lab in CLASSES for s, g in enumerate(gs)],
                          columns=["epoch", "label", "site", "gene", "magnetization"]), d / "magnetization_trajectory.tsv")
        conn = np.zeros((len(observed), 2, n_genes, n_genes), dtype=np.float32)
        for i in range(len(observed)):
            for k in range(2):
                a = rng.normal(size=(n_genes, n_genes)) * 0.2
                conn[i, k] = np.clip((a + a.T) / 2, -0.9, 0.9)
                np.fill_diagonal(conn[i, k], 0.5)
        np.savez(d / "correlations_trajectory.npz", epochs=np.array(observed), classes=np.array(CLASSES),
                 genes=np.array(gs), connected=conn)
        (d / "run_info.json").write_text(json.dumps({"seed": 1, "n_train": 28, "n_test": 12}))

    # grokking
    grows = []
    for c in comms:
        row = {"community": c, "transition_epoch": 18, "max_rate_epoch": 14, "jump_epoch": 12 if c == "c01" else "",
               "train_saturated_epoch": 5, "grokking": c == "c01", "lag": -6 if c == "c01" else "",
               "final_test_balanced_accuracy": 0.93, "final_train_balanced_accuracy": 1.0, "delta": 0.1}
        _tsv(pd.DataFrame([row]), res / "grokking" / f"{c}.tsv")
        grows.append(row)
    _tsv(pd.DataFrame(grows), res / "grokking" / "summary.tsv")

    # subcommunities
    g1 = comms["c01"]
    sub = pd.DataFrame(
        [(g, "c01/paper1", "paper", 0.2, -0.3, 2) for g in (g1[1], g1[4], g1[6])]
        + [(g, "c01/paper2", "paper", 0.1, 0.4, 1) for g in (g1[0], g1[2])]
        + [(g, "c01/graph1", "graph", 0.1, 0.4, 1) for g in (g1[2], g1[3], g1[7])],
        columns=["gene", "subcommunity", "method", "magnetization_normal", "magnetization_tumor", "degree"],
    )
    _tsv(sub, res / "subcommunities" / "c01.tsv")
    _tsv(sub.iloc[:0], res / "subcommunities" / "c02.tsv")
    _tsv(pd.DataFrame({"label": ["tumor"] * 3, "threshold": [0.1, 0.2, 0.3], "epoch": [20] * 3,
                       "n_pairs": [10, 4, 1]}), res / "subcommunities" / "c01_curve.tsv")

    # enrichment
    cols = ["set", "level", "library", "term", "overlap", "p_value", "fdr", "odds_ratio", "genes", "significant", "new"]
    _tsv(pd.DataFrame([
        ("c01", "community", "hallmark", "HALLMARK_HYPOXIA", 5, 1e-6, 1e-4, 12.0, ";".join(g1[:5]), True, False),
        ("c01", "community", "go_bp", "Glycolytic Process (GO:0006096)", 3, 1e-3, 0.3, 4.0, ";".join(g1[:3]), False, False),
        ("c01/paper1", "subcommunity", "hallmark", "HALLMARK_HYPOXIA", 3, 1e-4, 2e-3, 20.0, ";".join(g1[1:7:3]), True, False),
        ("c01/paper1", "subcommunity", "reactome", "REACTOME_GLYCOLYSIS", 3, 1e-5, 4e-4, 30.0, ";".join(g1[1:7:3]), True, True),
        ("c01/graph1", "subcommunity", "go_bp", "Glycolytic Process (GO:0006096)", 2, 0.02, 0.2, 5.0, g1[2], False, False),
    ], columns=cols), res / "enrichment" / "c01.tsv")
    _tsv(pd.DataFrame([("c02", "community", "hallmark", "HALLMARK_APOPTOSIS", 1, 0.3, 1.0, 1.2, comms["c02"][0], False, False)],
                      columns=cols), res / "enrichment" / "c02.tsv")

    config = root / "config.json"
    config.write_text(json.dumps({"dataset": "TCGA-LIHC (synthetic)", "seed": 1,
                                  "train": {"epochs": epochs, "max_bond": 4, "observe_every": observe_every},
                                  "enrichment": {"fdr": 0.05, "online": False}}))
    per_community = {
        "genes": "communities/genes/{c}.txt", "history": "mps/{c}/history.tsv",
        "entanglement": "mps/{c}/entanglement_trajectory.tsv", "magnetization": "mps/{c}/magnetization_trajectory.tsv",
        "correlations": "mps/{c}/correlations_trajectory.npz", "grokking": "grokking/{c}.tsv",
        "subcommunities": "subcommunities/{c}.tsv", "enrichment": "enrichment/{c}.tsv",
    }  # fmt: skip
    return {
        "selected": cdir / "selected.txt", "baseline": cdir / "baseline.tsv", "expression": expression,
        "config_json": config,
        **{k: [res / v.format(c=c) for c in comms] for k, v in per_community.items()},
    }


def _cli(paths: dict[str, object], out_dir: Path, *extra: str) -> list[str]:
    args = ["report"]
    for k, v in paths.items():
        args += [f"--{k.replace('_', '-')}", *map(str, v if isinstance(v, list) else [v])]
    return args + ["--out-dir", str(out_dir), *extra]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.imgs: list[str] = []
        self.resource_attrs: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()
        self._h: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if tag in {"h1", "h2", "h3"}:
            self._h = ""
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        for key in ("src", "href", "data", "srcset"):
            if a.get(key) is not None:
                self.resource_attrs.append((tag, key, a[key]))

    def handle_data(self, data):
        if self._h is not None:
            self._h += data

    def handle_endtag(self, tag):
        if tag in {"h1", "h2", "h3"} and self._h is not None:
            self.headings.append(" ".join(self._h.split()))
            self._h = None


def _parse(html: str) -> _Collector:
    p = _Collector()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def report_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    paths = write_results_tree(root)
    out = root / "results" / "report" / "index.html"
    figs = root / "results" / "report" / "figures"
    assert main(_cli(paths, out.parent, "--top-terms", "3")) == 0
    return paths, out, figs


def test_report_sections_images_and_self_containment(report_tree):
    _paths, out, figs = report_tree
    html = out.read_text(encoding="utf-8")
    doc = _parse(html)
    for h in ("Run summary", "Samples", "Communities", "Community c01", "Community c02",
              "Methods and data leakage"):
        assert h in doc.headings, (h, doc.headings)
    # per-community subsections: c01 has everything, c02 no subcommunity / enrichment figure
    assert doc.headings.count("Training and entanglement (grokking)") == 2
    assert doc.headings.count("Entanglement profile along the chain") == 2
    assert doc.headings.count("Magnetization per gene") == 2
    assert doc.headings.count("Subcommunities") == 2 and doc.headings.count("Enrichment") == 2
    assert "Connected correlations — paper subcommunities outlined" in doc.headings
    assert "Connected correlations — graph subcommunities outlined" in doc.headings
    assert doc.headings.count("Enrichment dot plot") == 1
    # c01: grokking, profile, magnetization, 2 correlation figures, dot plot; c02: 4 (one correlation)
    assert len(doc.imgs) == 6 + 4
    for src in doc.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG_MAGIC)
    # nothing loaded from elsewhere: only in-page anchors and data: URIs
    for tag, key, value in doc.resource_attrs:
        assert value.startswith(("#", "data:")), (tag, key, value)
    assert not ({"script", "link", "iframe", "object", "embed"} & doc.tags)
    assert "http://" not in html and "https://" not in html
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    # figures for snakemake --report
    for c in ("c01", "c02"):
        assert (figs / f"{c}_grokking.png").read_bytes().startswith(PNG_MAGIC)


def test_report_content(report_tree):
    _paths, out, _ = report_tree
    html = out.read_text(encoding="utf-8")
    # sample counts per split and the leakage statement
    assert "reported MPS test accuracies only" in html and "train</strong> samples only" in html
    assert "TCGA-LIHC (synthetic)" in html  # config header
    # summary table: MPS final test BA and both baselines, grokking yes/no, epochs
    assert "0.930" in html and "0.810" in html and "0.770" in html
    assert "logistic regression (train CV)" in html
    assert "paper: 3, 2; graph: 3" in html
    # enrichment: the new subcommunity term is flagged, c02 says nothing is enriched
    assert "REACTOME_GLYCOLYSIS" in html and '<span class="new">new</span>' in html
    assert "No term is enriched" in html
    assert "No subcommunity was found for this community." in html
    # the non-significant GO term must not appear in the top-terms table
    assert "Glycolytic Process (GO:0006096)" not in html


def test_report_without_selected_communities(tmp_path):
    paths = write_results_tree(tmp_path, epochs=4)
    paths["selected"].write_text("")
    paths = {k: ([] if isinstance(v, list) else v) for k, v in paths.items()}
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 0
    html = out.read_text()
    assert "No community was selected" in html
    assert not _parse(html).imgs


def test_report_tolerates_missing_optional_files(tmp_path):
    paths = write_results_tree(tmp_path, epochs=4)
    c = "c02"
    paths = {k: (v[1:] if isinstance(v, list) else v) for k, v in paths.items()}  # c02 only
    paths["selected"].write_text(f"{c}\n")
    for p in (paths["enrichment"][0], paths["subcommunities"][0], paths["correlations"][0], paths["grokking"][0]):
        p.unlink()
    paths.pop("config_json")
    paths["expression"] = tmp_path / "missing.h5ad"
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 0
    html = out.read_text()
    doc = _parse(html)
    assert "Community c02" in doc.headings and "Community c01" not in doc.headings
    assert "correlations_trajectory.npz is missing" in html and "Connected correlations" not in html and "No configuration file was given" in html
    assert "is not available: sample counts are not shown" in html
    assert len(doc.imgs) == 3  # grokking, entropy profile, magnetization


def test_report_malformed_input_is_one_line_error(tmp_path, capsys):
    paths = write_results_tree(tmp_path, epochs=4)
    paths["enrichment"][0].write_text("set\tterm\nc01\tX\n")
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "c01.tsv" in err[0] and "missing column" in err[0]
    assert not out.exists()


def test_report_pairs_files_with_selected_communities(tmp_path, capsys):
    """A per-community option must give one file per community of selected.txt."""
    paths = write_results_tree(tmp_path, epochs=4)
    paths["history"] = paths["history"][:1]
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 2
    err = capsys.readouterr().err
    assert "2 communities but --history has 1 files" in err
    assert not out.exists()


def test_report_falls_back_to_final_observables(tmp_path):
    """Without trajectories, magnetization and correlations come from `observe`'s files."""
    paths = write_results_tree(tmp_path, epochs=4)
    res = tmp_path / "results"
    for c, genes_file in zip(("c01", "c02"), paths["genes"], strict=True):
        genes = genes_file.read_text().split()
        d = res / "observables" / c
        (d / "correlations").mkdir(parents=True)
        _tsv(pd.DataFrame([(g, i, lab, 0.1) for lab in CLASSES for i, g in enumerate(genes)],
                          columns=["gene", "site", "label", "magnetization"]), d / "magnetization.tsv")
        for lab in CLASSES:
            _tsv(pd.concat([pd.DataFrame({"gene": genes}), pd.DataFrame(np.eye(len(genes)) * 0.5, columns=genes)],
                           axis=1), d / "correlations" / f"{lab}.tsv")
    for k in ("magnetization", "correlations"):
        paths.pop(k)
    paths["observed_magnetization"] = [res / "observables" / c / "magnetization.tsv" for c in ("c01", "c02")]
    paths["observed_correlations"] = [res / "observables" / c / "correlations" for c in ("c01", "c02")]
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 0
    html = out.read_text()
    doc = _parse(html)
    assert "no file given: magnetization over training epochs not available." in html
    assert doc.headings.count("Magnetization per gene") == 2
    assert "Connected correlations — paper subcommunities outlined" in doc.headings
    assert "Connected correlations" in doc.headings  # c02: no subcommunity to outline


def test_report_paths_show_one_location_per_kind(tmp_path):
    files = {c: html.CommunityFiles(history=tmp_path / c / "history.tsv") for c in ("c01", "c02")}
    paths = html.ReportPaths(communities=files, selected=tmp_path / "selected.txt")
    assert paths.locations() == {"selected": str(tmp_path / "selected.txt"),
                                 "history": f"{tmp_path / 'c01' / 'history.tsv'} (+1 more)"}
    assert set(html.COMMUNITY_FILES) == {f.name for f in __import__("dataclasses").fields(html.CommunityFiles)}
    assert callable(figures.save_png)
