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
from mpsomics.core.errors import InputError
from mpsomics.report import figures, html, trust

CLASSES = ["normal", "tumor"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tsv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)


def write_validation_tables(res: Path) -> dict[str, Path]:
    """``cv.tsv``, ``stability.tsv`` and ``summary.tsv`` with planted verdicts.

    c01: MPS CV AUC 0.91 [0.85, 0.97] beats shuffled labels (q 0.04) and lies above
    logistic regression; test split 10 tumor / 2 normal. c02: MPS below logistic
    regression, no better than shuffled labels. Subcommunities of c01: ``paper1`` stable,
    beats random gene sets in cohort ``ext`` and strongly preserved (the one discovery);
    ``graph1`` stable and moderately preserved but random sets do as well; ``paper2`` has
    no validation row.
    """
    vdir = res / "validation"
    cv_rows = []
    for c, m, mean, lo, hi, p, q in (
        ("c01", "mps", 0.91, 0.85, 0.97, 0.02, 0.04), ("c01", "logistic_regression", 0.70, 0.60, 0.80, "", ""),
        ("c01", "random_forest", 0.88, 0.80, 0.95, "", ""),
        ("c02", "mps", 0.55, 0.45, 0.65, 0.6, 0.6), ("c02", "logistic_regression", 0.80, 0.75, 0.85, "", ""),
        ("c02", "random_forest", 0.60, 0.50, 0.70, "", ""),
    ):
        cv_rows.append({"community": c, "model": m, "n_genes": 8, "n_folds": 5, "n_repeats": 2, "auc_mean": mean,
                        "auc_low": lo, "interval_method": "nadeau_bengio_t", "permutation_epochs": 10,
                        "permutation_observed": mean - 0.02, "permutation_null_median": 0.52,
                        "test_model": "mps", "test_interval_method": "stratified_percentile_bootstrap",
                        "auc_high": hi, "balanced_accuracy_mean": mean - 0.1, "balanced_accuracy_low": lo - 0.1,
                        "balanced_accuracy_high": hi - 0.1, "permutation_p": p, "permutation_q": q,
                        "n_permutations": 99 if m == "mps" else 0, "test_auc": 0.94 if c == "c01" else 0.5,
                        "test_auc_low": 0.81, "test_auc_high": 1.0, "test_balanced_accuracy": 0.875,
                        "test_n_positive": 10, "test_n_negative": 2, "seconds": 1.5})
    _tsv(pd.DataFrame(cv_rows), vdir / "cv.tsv")
    _tsv(pd.DataFrame([("c01", "c01/paper1", "paper", 3, 0.9, 0.8, 0.97, 20),
                       ("c01", "c01/graph1", "graph", 3, 0.8, 0.7, 0.9, 20)],
                      columns=["community", "subcommunity", "method", "n_genes", "jaccard_mean", "jaccard_low",
                               "jaccard_high", "n_resamples"]), vdir / "stability.tsv")
    cols = ["cohort", "set", "kind", "community", "n_genes", "n_found", "n_samples", "n_positive", "auc", "auc_low",
            "auc_high", "null_p", "null_q", "preservation_z", "preservation_z_density", "preservation_z_connectivity"]
    _tsv(pd.DataFrame([
        ("ext", "c01", "community", "c01", 8, 7, 60, 30, 0.93, 0.88, 0.97, 0.3, 0.45, 15.0, 12.0, 18.0),
        ("ext", "c01/paper1", "subcommunity", "c01", 3, 3, 60, 30, 0.97, 0.94, 0.99, 0.004, 0.012, 12.5, 10.0, 15.0),
        ("ext", "c01/graph1", "subcommunity", "c01", 3, 3, 60, 30, 0.95, 0.90, 0.98, 0.4, 0.4, 5.0, 4.0, 6.0),
    ], columns=cols), vdir / "summary.tsv")
    return {"cv": vdir / "cv.tsv", "stability": vdir / "stability.tsv", "validation": vdir / "summary.tsv"}


def write_results_tree(root: Path, *, n_genes: int = 8, epochs: int = 20, observe_every: int = 2,
                       validation: bool = True) -> dict[str, Path]:
    """Write a minimal but complete results tree in the formats of docs/outputs.md.

    Two selected communities: ``c01`` with subcommunities (paper + graph methods) and
    significant enrichment including a "new" term; ``c02`` with a header-only
    subcommunity table and enrichment rows none of which is significant.

    Returns
    -------
    dict of the ``mpsomics report`` options: one path, or one path per community in
    ``selected.txt`` order (``genes`` ... ``enrichment``), as the workflow passes them;
    with ``validation`` also ``cv``, ``stability`` and ``validation`` (:func:`write_validation_tables`).
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
                                  "enrichment": {"fdr": 0.05, "online": False},
                                  "validation": {"folds": 5, "repeats": 2, "permutation_epochs": 10,
                                                 "stable_jaccard": 0.75, "fdr": 0.05, "preserved_z": 2}}))
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
        **(write_validation_tables(res) if validation else {}),
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
    assert "How far to trust the results" in doc.headings and doc.headings.count("How far to trust this") == 2
    # c01: grokking, profile, magnetization, 2 correlation figures, dot plot; c02: 4 (one correlation);
    # validation overview: CV forest plot and subcommunity evidence
    assert len(doc.imgs) == 6 + 4 + 2
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
    for name in ("c01_grokking", "c02_grokking", "validation_cv", "validation_subcommunities"):
        assert (figs / f"{name}.png").read_bytes().startswith(PNG_MAGIC)


def test_report_content(report_tree):
    _paths, out, _ = report_tree
    html = out.read_text(encoding="utf-8")
    # sample counts per split and the leakage statement
    assert "reported test accuracies and test AUCs (MPS and baselines) only" in html
    assert "train</strong> samples only" in html and "patient-grouped folds of the <strong>train</strong> split for every model" in html
    assert "TCGA-LIHC (synthetic)" in html  # config header
    # with cv.tsv the MPS is compared with the baselines on identical folds only: the selection-stage
    # baseline numbers (0.810, 0.770) and the MPS test accuracy are not put side by side
    assert "logistic regression (train CV)" not in html and "0.810" not in html
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
    assert len(doc.imgs) == 4  # grokking, entropy profile, magnetization; CV forest plot (c02 only)
    assert "Subcommunities: stability, external AUC" not in html  # c02 has none; c01 is not shown


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


def _row_cells(html: str, first_cell: str) -> list[str]:
    """The text of the cells of the summary-table row whose first cell links to ``first_cell``."""
    import re

    row = re.search(rf'<tr[^>]*><td><a href="#community-[^"]+">{re.escape(first_cell)}</a></td>(.*?)</tr>', html, re.S)
    assert row, first_cell
    return [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_report_trust_summary_tables(report_tree):
    _paths, out, _ = report_tree
    html = out.read_text(encoding="utf-8")
    # community rows: CV AUC of the three models on identical folds, comparison, permutation, test split
    c01 = [" ".join(c) for c in _row_cells(html, "c01")]
    assert c01[:9] == ["8", "0.91 [0.85, 0.97]", "0.70 [0.60, 0.80]", "0.88 [0.80, 0.95]", "higher", "0.02 (0.04)",
                       "✔", "0.94 [0.81, 1.00] 10 tumor / 2 normal", "1 of 3"]
    c02 = [" ".join(c) for c in _row_cells(html, "c02")]
    assert c02[4:7] == ["lower", "0.60 (0.60)", "✘"] and c02[8] == "no subcommunity"
    # subcommunity table: one discovery, marked; unmeasured criteria are "–", never "✔"
    assert "1 of 3 subcommunities are stable, significant and preserved." in html
    assert html.count('<tr class="discovery">') == 1
    sub = {k: [" ".join(c) for c in _row_cells(html, k)] for k in ("c01/paper1", "c01/graph1", "c01/paper2")}
    assert sub["c01/paper1"] == ["3", "0.90 [0.80, 0.97]", "0.97 [0.94, 0.99]", "0.004 (0.012)", "12.5 (strong)",
                                 "✔", "✔", "✔", "★"]
    assert sub["c01/graph1"][3:] == ["0.40 (0.40)", "5.0 (moderate)", "✔", "✘", "✔", ""]
    assert sub["c01/paper2"] == ["–"] * 5 + ["–", "–", "–", ""]


def test_report_trust_panel_words(report_tree):
    _paths, out, _ = report_tree
    import html as html_lib

    html = html_lib.unescape(out.read_text(encoding="utf-8"))
    c01 = html[html.index('id="community-c01"'):html.index('id="community-c02"')]
    c02 = html[html.index('id="community-c02"'):html.index('id="methods"')]
    assert "5-fold cross-validation repeated 2 times" in c01
    assert "MPS 0.91 [0.85, 0.97]; logistic regression 0.70 [0.60, 0.80]; random forest 0.88 [0.80, 0.95]" in c01
    assert ("The MPS interval lies entirely above that of logistic regression and overlaps that of random forest: "
            "the MPS does better than a linear model on these genes.") in c01
    # p = (1 + hits) / (1 + 99) = 0.02: one shuffle reached the observed AUC
    assert "corrected resampled t interval of Nadeau & Bengio 2003" in c01
    assert "shuffled among the training patients 99 times" in c01
    assert ("each shuffle is scored more cheaply (5 folds of the first repeat, 10 training epochs) and the true "
            "labels are scored the same way (AUC 0.89). Shuffled labels reach a median AUC of 0.52; 1 of the 99 "
            "shuffles reached the true labels' AUC: p = 0.02, q = 0.04") in c01
    assert "p = 0.02, q = 0.04 (Benjamini–Hochberg across communities) — the MPS learned more than chance" in c01
    assert ("test split: 10 tumor / 2 normal): the trained MPS's AUC is 0.94 [0.81, 1.00] (95 % interval, "
            "class-stratified percentile bootstrap)") in c01
    assert "With 2 normal samples, one misclassified normal sample moves the balanced accuracy by 0.25." in c01
    # the external cohort, in words, with its null
    assert "ext (60 samples: 30 tumor / 30 normal, 7 of 8 genes found): MPS AUC 0.93 [0.88, 0.97]" in c01
    assert "random gene sets of the same size do about as well (p = 0.30, q = 0.45): unremarkable at FDR 0.05" in c01
    assert "preservation Z = 15.0: strong evidence that its co-expression is preserved" in c01
    # subcommunities: the discovery, the one that random genes match, the unmeasured one
    assert "★ c01/paper1" in c01 and "better than random gene sets of the same size (p = 0.004, q = 0.012)" in c01
    assert "mean Jaccard 0.90 [0.80, 0.97]" in c01 and "20 times" in c01
    assert "Stable, significant and preserved: a discovery by this report's rules." in c01
    assert "Not a discovery (not significant)." in c01
    assert "Not a discovery (not measured: stable, significant, preserved)." in c01
    assert "p = 0.60, q = 0.60" in c02 and "not distinguishable from chance at FDR 0.05" in c02
    assert "The MPS interval lies entirely below that of logistic regression" in c02 and "a linear model does better" in c02


def test_report_trust_thresholds_come_from_the_config(tmp_path):
    paths = write_results_tree(tmp_path, epochs=4)
    cfg = json.loads(paths["config_json"].read_text())
    cfg["validation"].update({"stable_jaccard": 0.95, "preserved_z": 20})
    paths["config_json"] = json.dumps(cfg)  # inline JSON, as the workflow passes it
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 0
    html = out.read_text()
    assert "0 of 3 subcommunities are stable, significant and preserved." in html
    assert "Not a discovery (not stable, not preserved)." in html
    assert "≥ 0.95; Hennig 2007" in html and "Zsummary &gt; 20.0" in html


def test_report_without_validation_says_so(tmp_path):
    paths = write_results_tree(tmp_path, epochs=4, validation=False)
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 0
    html = out.read_text()
    doc = _parse(html)
    assert "Validation was not run for this report" in html
    assert html.count("Validation was not run: no cross-validation against the baselines") == 2
    # the old columns are kept, with the warning that they are measured differently
    assert "logistic regression (train CV)" in html and "0.550" in html and "0.810" in html and "0.770" in html
    assert "must not be\ncompared with each other" in html
    assert "reported test accuracies only" in html
    assert len(doc.imgs) == 6 + 4 and "stable, significant and preserved." not in html


def test_report_validation_table_given_but_missing_is_a_note(tmp_path):
    paths = write_results_tree(tmp_path, epochs=4)
    paths["stability"].unlink()
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 0
    html = out.read_text()
    assert "stability.tsv is missing: run `mpsomics stability` and `stability-summary`" in html
    assert "Stability was not measured (no stability.tsv)" in html
    assert "0 of 3 subcommunities are stable, significant and preserved." in html
    assert "Not a discovery (not significant; not measured: stable)." in html
    assert "Not a discovery (not measured: stable)." in html  # paper1: significant and preserved, stability unknown


@pytest.mark.parametrize(("option", "breaks"), [("cv", "auc_low"), ("stability", "jaccard_mean"),
                                                ("validation", "preservation_z")])
def test_report_malformed_validation_table_is_one_line_error(tmp_path, capsys, option, breaks):
    paths = write_results_tree(tmp_path, epochs=4)
    df = pd.read_csv(paths[option], sep="\t").drop(columns=[breaks])
    df.to_csv(paths[option], sep="\t", index=False)
    out = tmp_path / "report" / "index.html"
    assert main(_cli(paths, out.parent)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and paths[option].name in err[0] and f"missing column(s) {breaks}" in err[0]
    assert not out.exists()


def test_trust_words_and_numbers():
    assert trust.ci(0.912, 0.851, 0.968) == "0.91 [0.85, 0.97]" and trust.ci(0.9, float("nan"), 1) == "0.90"
    assert trust.ci(float("nan"), 0, 1) == "–"
    assert [trust.pval(p) for p in (0.004975, 0.05, 0.35, 1.0, None)] == ["0.005", "0.05", "0.35", "1.00", "–"]
    assert trust.class_counts(40, 5, ("normal", "tumor")) == "40 tumor / 5 normal"
    assert trust.balanced_accuracy_step(40, 5) == pytest.approx(0.1)
    assert trust.null_phrase(0.4, 0.6, 0.05) == (
        "random gene sets of the same size do about as well (p = 0.40, q = 0.60): unremarkable at FDR 0.05")
    assert trust.null_phrase(0.004, 0.01, 0.05).startswith("better than random gene sets")
    # p alone is not enough: significance is decided on q
    assert trust.null_phrase(0.01, 0.2, 0.05) == (
        "better than most random gene sets of the same size (p = 0.01) but not after adjusting for the sets tested "
        "(q = 0.20 > FDR 0.05)")
    assert trust.null_phrase(0.02, 0.05, 0.05).startswith("better than random")  # q = FDR passes
    assert trust.preservation_phrase(1.5) == "preservation Z = 1.5: no evidence that its co-expression is preserved"
    # the table's K and repeats win; the config fills in for older tables
    assert trust.cv_design({"validation.folds": "3", "validation.repeats": "1"}, 5, 2) == (
        "5-fold cross-validation repeated 2 times")
    assert trust.cv_design({"validation.folds": "5", "validation.repeats": "1"}, None) == (
        "5-fold cross-validation repeated once")
    assert trust.cv_design({}, 5) == "5-fold cross-validation"


def test_trust_thresholds_from_config():
    t = trust.Thresholds.from_config({"validation.fdr": "0.1", "validation.stable_jaccard": "0.8"})
    assert (t.stable_jaccard, t.fdr, t.preserved_z) == (0.8, 0.1, 2.0)
    assert trust.Thresholds.from_config({}) == trust.Thresholds()
    with pytest.raises(InputError, match="validation.fdr must be a number"):
        trust.Thresholds.from_config({"validation.fdr": "low"})


def test_trust_panel_says_when_the_null_had_too_few_shuffles(tmp_path):
    paths = write_validation_tables(tmp_path)
    cv = pd.read_csv(paths["cv"], sep="\t")
    cv["n_permutations"] = cv["n_permutations"].clip(upper=3)
    cv.loc[cv["model"] == "mps", ["permutation_p", "permutation_q"]] = 0.25  # 1 / (3 + 1): no shuffle did as well
    cv.to_csv(paths["cv"], sep="\t", index=False)
    v = trust.read_validation(paths["cv"], None, None, {}, CLASSES, "tumor")
    text = " ".join(trust.community_panel("c01", v, [])["sentences"])
    assert "none of the 3 shuffles reached the true labels' AUC: p = 0.25, q = 0.25" in text
    assert "3 shuffles cannot give p below 0.25" in text and "more permutations are needed to decide" in text
    assert "learned more than chance" not in text


def test_selection_note_flags_exploratory_communities():
    import pandas as pd

    from mpsomics.report.html import selection_note

    base = pd.DataFrame({"community": ["c1", "c1", "c2", "c2", "c3", "c3"],
                         "model": ["logistic_regression", "random_forest"] * 3,
                         "balanced_accuracy": [0.6] * 6,
                         "selection": ["significant"] * 2 + ["min_communities"] * 2 + ["not_significant"] * 2})
    text = selection_note(base, ["c1", "c2"])
    assert text.startswith("2 of 3 communities were trained: 1 beat")
    assert "(c2)" in text and "exploratory" in text
    assert selection_note(base.drop(columns="selection"), ["c1"]) == ""


# --------------------------------------------------------------------------- dynamics: transition, controls,
# diagnostics (issue 13). The new columns are written into the synthetic tree above; c01 keeps the old layout
# where a test needs it.

DIAGNOSTICS = ("norm", "max_abs_f", "centroid_overlap_normal", "centroid_overlap_tumor",
               "centroid_train_balanced_accuracy", "centroid_test_balanced_accuracy")


def _diagnostic_history(epochs: int) -> pd.DataFrame:
    """The new history.tsv columns: a norm spanning 1e-3..1 (log axis), overlaps rising to ~1."""
    ep = np.arange(epochs + 1)
    return pd.DataFrame({
        "norm": np.geomspace(1e-3, 1.0, len(ep)), "max_abs_f": np.linspace(0.5, 0.9, len(ep)),
        "centroid_overlap_normal": np.linspace(0.2, 0.998, len(ep)), "centroid_overlap_tumor": np.linspace(-0.1, 0.99, len(ep)),
        "centroid_train_balanced_accuracy": 0.86, "centroid_test_balanced_accuracy": 0.81,
    })


def _control_entanglement(epochs: list[int], n_controls: int, n_bonds: int, scale: float) -> pd.DataFrame:
    rows = [(k, e, lab, b, scale * (1 + k) * (1 + e) / (1 + max(epochs)))
            for k in range(n_controls) for e in epochs for lab in CLASSES for b in range(n_bonds)]
    return pd.DataFrame(rows, columns=["control", "epoch", "label", "bond", "entropy"])


#: grokking columns of the transition and its controls: c01 a transition that beats its 2 controls, c02 still
#: falling at the end (its transition epoch is then empty, as `mpsomics grokking` writes it)
TRANSITIONS = {
    "c01": {"transition_status": "transition", "entropy_drop": 0.8, "min_entropy_epoch": 5, "n_controls": 2,
            "control_transitions": 1, "control_max_drop": 0.3, "control_p": 1 / 3, "beats_control": True,
            "min_drop": 0.5},
    "c02": {"transition_status": "still_falling", "entropy_drop": 0.4, "min_entropy_epoch": 6, "n_controls": 2,
            "control_transitions": 0, "control_max_drop": 0.6, "control_p": 1.0, "beats_control": False,
            "min_drop": 0.5, "transition_epoch": ""},
}


def write_dynamics_tree(root: Path, *, epochs: int = 6, controls: bool = True) -> dict[str, object]:
    """:func:`write_results_tree` with the issue-13 columns: diagnostics in c01's history only,
    transition status in both grokking files, control entanglement files (``controls``)."""
    paths = write_results_tree(root, epochs=epochs, observe_every=1, validation=False)
    res = root / "results"
    hist = pd.read_csv(paths["history"][0], sep="\t")
    _tsv(pd.concat([hist, _diagnostic_history(epochs)], axis=1), paths["history"][0])
    for c, grok in zip(("c01", "c02"), paths["grokking"], strict=True):
        row = pd.read_csv(grok, sep="\t").iloc[0].to_dict()
        row.update(TRANSITIONS[c])
        _tsv(pd.DataFrame([row]), grok)
    if controls:
        n_bonds = len(paths["genes"][0].read_text().split()) - 1
        paths["controls"] = []
        for c in ("c01", "c02"):
            p = res / "controls" / c / "entanglement_trajectory.tsv"
            _tsv(_control_entanglement(list(range(epochs + 1)), 2, n_bonds, 0.5), p)
            paths["controls"].append(p)
        paths["modes"] = []
        for c, fixed in (("c01", ("transition", "True")), ("c02", ("small_drop", "False"))):
            p = res / "controls" / c / "modes.tsv"
            _tsv(pd.DataFrame({"output_scale": ["fixed", "free"], "transition_status": [fixed[0], "no_drop"],
                               "entropy_drop": [0.7, 0.0], "beats_control": [fixed[1], "False"]}), p)
            paths["modes"].append(p)
    return paths


@pytest.fixture(scope="module")
def dynamics_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("dynamics")
    paths = write_dynamics_tree(root)
    out = root / "results" / "report"
    assert main(_cli(paths, out)) == 0
    return paths, (out / "index.html").read_text(encoding="utf-8"), out / "figures"


def _table_row(html: str, table_id: str, community: str) -> list[str]:
    import re

    part = html[html.index(f'id="{table_id}"'):]
    part = part[:part.index("</table>")]
    row = re.search(rf'<tr><td><a href="#community-{community}">{community}</a></td>(.*?)</tr>', part, re.S)
    assert row, community
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_report_dynamics_section_counts_transitions_that_beat_controls(dynamics_report):
    _paths, html, figs = dynamics_report
    import html as html_lib

    text = html_lib.unescape(html)
    assert "1 of 2 communities show an entanglement transition that beats its label-permutation controls." in text
    assert "Transition status: transition 1, still_falling 1." in text
    assert ("a transition counts only when the real run has one and it loses a larger fraction of its peak "
            "entanglement than every label-permutation control trained with the same settings") in text
    # status, transition epoch, drop, controls with a transition, control max drop, p, beats, grokking, jump
    assert _table_row(html, "dynamics", "c01")[:7] == ["transition", "18", "80 %", "1 of 2", "30 %", "0.333", "yes"]
    # not a transition: no epoch, even if an old-style file had one
    assert _table_row(html, "dynamics", "c02")[:7] == ["still_falling", "–", "40 %", "0 of 2", "60 %", "1", "no"]
    c01 = text[text.index('id="community-c01"'):text.index('id="community-c02"')]
    c02 = text[text.index('id="community-c02"'):text.index('id="methods"')]
    assert "It beats its controls: the transition counts." in c01
    assert "2 label-permutation controls trained with the same settings: 1 with a transition, largest drop 30 %" in c01
    assert "still falling at the last recorded epoch" in c02 and "loses 40 % of its peak (minimum at epoch 6)" in c02
    # the learning-curve caption names the baseline and the controls' curves
    assert "nearest class centroid (kernel) classifier" in c01 and "Thin grey lines: the total of each of the 2" in c01


def test_report_compares_the_other_sweep_updates(dynamics_report):
    _paths, html, _figs = dynamics_report
    import html as html_lib

    text = html_lib.unescape(html)
    assert ("With the paper's update (fixed norm) (fixed): 1 of 2 communities show a transition that beats its "
            "controls (1 with a transition at all).") in text
    assert "With the free-norm update (free): 0 of 2 communities show a transition" in text
    assert "transition, drop 70 % — beats its controls" in text and "no_drop, drop 0 %" in text


def test_report_diagnostics_figure_only_where_recorded(dynamics_report):
    _paths, html, figs = dynamics_report
    doc = _parse(html)
    assert doc.headings.count("Class states: centroid overlap, norm and output scale") == 1  # c01 only
    c02 = html[html.index('id="community-c02"'):html.index('id="methods"')]
    assert "Diagnostics of the class states (centroid overlap, ‖W‖, max |f|): not recorded" in c02
    assert "the classifier is then a kernel nearest-centroid classifier" in html
    assert "1 by construction for output_scale fixed and profiled" in html
    assert (figs / "c01_diagnostics.png").read_bytes().startswith(PNG_MAGIC)
    assert not (figs / "c02_diagnostics.png").exists()
    # c01: grokking, diagnostics, profile, magnetization, 2 correlations, dot plot; c02: 4
    assert len(doc.imgs) == 7 + 4


def test_report_old_grokking_files_say_not_recorded(report_tree):
    _paths, out, figs = report_tree
    html = out.read_text(encoding="utf-8")
    assert "The transition status was not recorded for any community" in html
    assert "beats its label-permutation controls." not in html
    assert _table_row(html, "dynamics", "c01")[:7] == ["not recorded", "18"] + ["not recorded"] * 5
    assert "The transition status and its label-permutation controls were not recorded" in html
    assert html.count("(centroid overlap, ‖W‖, max |f|): not recorded") == 2
    assert "Nearest-centroid baseline: not recorded" in html
    assert not list(figs.glob("*_diagnostics.png"))


def test_report_without_controls_files_still_renders(tmp_path):
    """Status and control columns come from the grokking files; --controls only adds the grey curves."""
    paths = write_dynamics_tree(tmp_path, controls=False)
    out = tmp_path / "report"
    assert main(_cli(paths, out)) == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "1 of 2 communities show an entanglement transition" in html
    assert "Thin grey lines" not in html


def test_report_controls_must_pair_with_selected(tmp_path, capsys):
    paths = write_dynamics_tree(tmp_path)
    paths["controls"] = paths["controls"][:1]
    assert main(_cli(paths, tmp_path / "report")) == 2
    assert "2 communities but --controls has 1 files" in capsys.readouterr().err


def test_report_malformed_controls_is_one_line_error(tmp_path, capsys):
    paths = write_dynamics_tree(tmp_path)
    paths["controls"][1].write_text("control\tepoch\tentropy\n0\t0\t0.1\n")
    out = tmp_path / "report"
    assert main(_cli(paths, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "entanglement_trajectory.tsv" in err[0] and "c02" in err[0]
    assert not (out / "index.html").exists()


def test_transition_status_and_summary_line():
    nan = float("nan")
    beats = html.transition_status(TRANSITIONS["c01"])
    loses = html.transition_status({**TRANSITIONS["c01"], "beats_control": False, "control_max_drop": 0.9})
    small = html.transition_status({"transition_status": "small_drop", "entropy_drop": 0.2, "n_controls": 0,
                                    "beats_control": nan, "control_max_drop": nan, "control_p": nan}, min_drop=0.5)
    old = html.transition_status({"transition_epoch": 12})
    assert beats["counts"] and not loses["counts"] and not small["counts"] and not old["counts"]
    assert "does not beat its controls" in loses["sentence"] and "the transition does not count" in loses["sentence"]
    assert "loses less than 50 % of its peak" in small["sentence"]
    assert "Without a transition no label-permutation control is needed." in small["sentence"]
    # controls are trained only for a transition: without one they are not needed, not missing
    assert small["cells"]["beats_control"] == "not needed" and small["cells"]["control_max_drop"] == "not needed"
    no_ctrl = html.transition_status({**TRANSITIONS["c01"], "n_controls": 0, "beats_control": nan})
    assert no_ctrl["cells"]["beats_control"] == "no controls" and not no_ctrl["counts"]
    assert html.transition_status({"transition_status": "no_drop", "n_controls": 0, "beats_control": False}
                                  )["cells"]["beats_control"] == "no (no transition)"
    assert old["cells"]["status"] == "not recorded" and old["cells"]["entropy_drop"] == "not recorded"
    assert "were not recorded (a grokking file written before they existed)" in old["sentence"]
    assert html.transition_status({})["sentence"] == "No grokking file: the transition status is not known."
    # a malformed row (beats_control without a transition) never counts; NaN drops are "–"
    odd = html.transition_status({"transition_status": "no_drop", "beats_control": "True", "n_controls": 3,
                                  "entropy_drop": nan, "control_max_drop": nan})
    assert not odd["counts"] and odd["cells"]["entropy_drop"] == "–"
    summary = html.dynamics_summary([beats, loses, small, old, beats])
    assert (summary["k"], summary["n"]) == (2, 5)
    assert summary["line"] == "2 of 5 communities show an entanglement transition that beats its label-permutation controls."
    assert "1 of 5 has no transition: no controls are trained" in " ".join(summary["details"])
    gap = html.dynamics_summary([beats, no_ctrl])
    assert "1 of 2 has a transition but no label-permutation control, so it cannot count." in gap["details"]
    assert "1 of 5 grokking file did not record" in " ".join(summary["details"])
    one = html.dynamics_summary([beats])
    assert one["line"] == "1 of 1 community shows an entanglement transition that beats its label-permutation controls."
    assert html.dynamics_summary([])["line"].startswith("0 of 0 communities")


def _centroid_lines(fig) -> list:
    return [ln for ax in fig.axes for ln in ax.get_lines() if str(ln.get_label()).startswith(figures.CENTROID_LABEL)]


def test_learning_curves_draw_the_centroid_baseline_when_recorded():
    ep = np.arange(7)
    hist = pd.DataFrame({"epoch": ep, "loss": 1 / (1 + ep), "train_balanced_accuracy": 0.9,
                         "test_balanced_accuracy": 0.8})
    old = figures.grokking_figure(hist, None)
    assert not _centroid_lines(old)
    new = figures.grokking_figure(pd.concat([hist, _diagnostic_history(6)], axis=1), None)
    lines = _centroid_lines(new)
    assert len(lines) == 2 and {ln.get_linestyle() for ln in lines} == {"--"}
    assert sorted(float(ln.get_ydata()[0]) for ln in lines) == [0.81, 0.86]
    legend = [t.get_text() for t in new.axes[0].get_legend().get_texts()]
    assert "nearest class centroid (kernel): train (0.86)" in legend
    # an all-empty column (e.g. no test split) draws nothing; text cells from older readers are parsed
    nan = hist.assign(centroid_train_balanced_accuracy="0.7", centroid_test_balanced_accuracy=float("nan"))
    assert [float(ln.get_ydata()[0]) for ln in _centroid_lines(figures.grokking_figure(nan, None))] == [0.7]
    ent = pd.DataFrame({"epoch": np.repeat(ep, 2), "label": ["normal", "tumor"] * 7, "bond": 0, "entropy": 0.3})
    fig = figures.training_entropy_figure(pd.concat([hist, _diagnostic_history(6)], axis=1), ent)
    assert len(_centroid_lines(fig)) == 2
    for f in (old, new, fig):
        figures.png_bytes(f)


def test_entropy_panel_draws_one_grey_curve_per_control():
    from mpsomics.dynamics.grokking import total_entropy

    ent = pd.DataFrame({"epoch": np.repeat(np.arange(5), 2), "label": ["normal", "tumor"] * 5, "bond": 0,
                        "entropy": np.linspace(0.1, 1.0, 10)})
    controls = html.control_totals(_control_entanglement(list(range(5)), 3, 2, 0.5))
    assert list(controls.columns) == ["0", "1", "2"] and list(controls.index) == list(range(5))
    # control k: 2 labels x 2 bonds x 0.5 (1 + k) (1 + e) / 5
    assert controls.loc[4, "2"] == pytest.approx(4 * 0.5 * 3 * 5 / 5)
    fig = figures.grokking_figure(None, total_entropy(ent), controls=controls, transition_epoch=3,
                                  entropy_note="transition (drop 80 % of peak) — beats its 3 controls")
    ax = fig.axes[-1]
    grey = [ln for ln in ax.get_lines() if ln.get_color() == "0.55"]
    assert len(grey) == 3 and all(ln.get_linewidth() < 1 for ln in grey)
    assert "beats its 3 controls" in ax.get_title(loc="left")
    assert any("transition epoch (3)" in str(ln.get_label()) for ln in ax.get_lines())
    figures.png_bytes(fig)


def test_diagnostics_figure_axes_and_missing_panels():
    ep = np.arange(7)
    hist = pd.concat([pd.DataFrame({"epoch": ep}), _diagnostic_history(6)], axis=1)
    assert figures.has_diagnostics(hist) and not figures.has_diagnostics(hist[["epoch"]])
    assert figures.overlap_columns(hist) == {"normal": "centroid_overlap_normal", "tumor": "centroid_overlap_tumor"}
    fig = figures.diagnostics_figure(hist, transition_epoch=4)
    over, norm, maxf = fig.axes
    assert len(over.get_lines()) >= 2 and over.get_ylim()[1] == pytest.approx(1.05)
    assert norm.get_yscale() == "log"  # 1e-3 .. 1
    assert maxf.get_yscale() == "linear"  # 0.5 .. 0.9
    figures.png_bytes(fig)
    # older or partial histories: the missing panels say so; all-NaN columns count as missing
    part = hist.drop(columns=["norm"]).assign(max_abs_f=float("nan"))
    assert figures.has_diagnostics(part)
    fig = figures.diagnostics_figure(part)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["‖W‖: not recorded", "max |f|: not recorded"]
    only_norm = hist[["epoch", "norm"]].assign(norm=1.0)
    fig = figures.diagnostics_figure(only_norm)
    assert [t.get_text() for t in fig.axes[0].texts] == ["centroid overlap: not recorded"]
    assert fig.axes[1].get_yscale() == "linear"  # profiled / fixed: 1 by construction
    figures.png_bytes(fig)


def test_caption_names_the_controls_only_when_there_are_some():
    """Controls are trained only for a transition: a header-only controls file draws no grey lines."""
    dyn = html.transition_status({"transition_status": "no_drop", "entropy_drop": 0.0, "n_controls": 0,
                                  "beats_control": False})
    empty = html.control_totals(pd.DataFrame(columns=["control", "epoch", "label", "bond", "entropy"]))
    assert "Thin grey lines" not in html._grokking_caption(None, empty, dyn)
    two = html.control_totals(_control_entanglement([0, 1, 2], 2, 3, 0.5))
    assert "the total of each of the 2 label-permutation controls" in html._grokking_caption(None, two, dyn)
