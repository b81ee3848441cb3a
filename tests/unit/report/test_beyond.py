"""The report's sections beyond the paper: gene panels, MPS against classical subcommunities."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pandas as pd

from mpsomics.report import beyond, trust
from mpsomics.report.formatting import fmt
from mpsomics.validation.panels import CURVE_COLUMNS, SUMMARY_COLUMNS

PNG_MAGIC = b"\x89PNG"
CLASSES = ["normal", "tumor"]


def _report_tests():
    path = Path(__file__).with_name("test_report.py")
    spec = importlib.util.spec_from_file_location("report_tests_for_beyond", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _panel_files(root: Path) -> tuple[Path, Path]:
    row = {c: float("nan") for c in SUMMARY_COLUMNS}
    row.update(community="c01", n_sites=20, panel_size=4, tolerance=0.01, dense_auc=0.98, dense_auc_low=0.95,
               dense_auc_high=1.0, rewind_auc=0.975, reinit_auc=0.97, l1_auc=0.99, overlap_l1=0.6,
               panel_p=0.05, panel_genes="A,B,C,D")
    summary = root / "summary.tsv"
    pd.DataFrame([row], columns=list(SUMMARY_COLUMNS)).assign(panel_q=0.05).to_csv(summary, sep="\t", index=False)
    rows = []
    for k, (mode, auc) in enumerate([(m, a) for m in ("rewind", "reinit", "l1") for a in (0.98, 0.97, 0.8)]):
        n = (20, 10, 2)[k % 3]
        rows.append({"community": "c01", "round": k % 3, "n_kept": n, "kept_fraction": n / 20, "mode": mode,
                     "auc_mean": auc, "auc_low": auc - 0.03, "auc_high": min(auc + 0.03, 1.0), "auc_sd": 0.02,
                     "entropy_mean": 1.0 if mode != "l1" else float("nan"), "genes_removed": ""})
    curve = root / "c01.tsv"
    pd.DataFrame(rows, columns=list(CURVE_COLUMNS)).to_csv(curve, sep="\t", index=False)
    return summary, curve


def test_panels_context_rows_line_and_figure(tmp_path):
    summary, curve = _panel_files(tmp_path)
    files: dict[str, bytes] = {}
    ctx = beyond.panels_context(summary, [curve], files)
    assert ctx["run"] and len(ctx["rows"]) == 1
    row = ctx["rows"][0]
    assert row["panel_size"] == "4" and row["genes"] == "A, B, C, D"
    assert row["dense"] == "0.980 [0.950, 1]" and row["overlap_l1"] == "0.60"
    assert ctx["line"].startswith("1 of 1 communities keep") and "0 panels do not beat it" in ctx["line"]
    assert ctx["rows"][0]["beats_null"]
    worse = beyond.panels_context(summary, [], None, fdr=0.01)
    assert worse["line"].startswith("0 of 1") and not worse["rows"][0]["beats_null"]
    assert list(files) == ["c01_panels.png"] and files["c01_panels.png"].startswith(PNG_MAGIC)
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "figures").exists()  # building writes nothing
    assert ctx["figures"][0]["src"].startswith("data:image/png;base64,")


def test_sections_are_off_without_their_tables(tmp_path):
    assert beyond.panels_context(None, [], None) == {"run": False, "rows": [], "figures": []}
    assert not beyond.comparison_context(tmp_path / "missing.tsv", None)["run"]


def test_comparison_context_says_when_the_mps_adds_nothing(tmp_path):
    summary = tmp_path / "summary.tsv"
    pd.DataFrame([
        {"community": "c01", "n_mps": 2, "n_classical": 3, "n_top_de": 2, "n_mps_validated": 0,
         "n_classical_validated": 1, "n_top_de_validated": 0, "n_mps_only": 1, "n_mps_only_validated": 0,
         "median_jaccard_best": 0.4, "genes_jaccard_mps_classical": 0.3, "n_mps_stable": 1},
        {"community": "all", "n_mps": 2, "n_classical": 3, "n_top_de": 2, "n_mps_validated": 0,
         "n_classical_validated": 1, "n_top_de_validated": 0, "n_mps_only": 1, "n_mps_only_validated": 0,
         "median_jaccard_best": 0.4, "genes_jaccard_mps_classical": 0.3, "n_mps_stable": 1},
    ]).to_csv(summary, sep="\t", index=False)
    ctx = beyond.comparison_context(summary, None)
    assert [r["community"] for r in ctx["rows"]] == ["c01"]
    assert "n_mps_stable" not in ctx["columns"] and ctx["columns"][0] == "n_mps"
    assert "1 MPS subcommunities overlap no classical or top-DE set" in ctx["line"]
    assert "adds no validated subcommunity" in ctx["line"]


def test_trust_panel_judges_the_mps_sets_only(tmp_path):
    rt = _report_tests()
    paths = rt.write_validation_tables(tmp_path)
    stab = pd.read_csv(paths["stability"], sep="\t")
    extra = stab.iloc[[0]].assign(subcommunity="c01/classical1", method="classical")
    pd.concat([stab, extra]).to_csv(paths["stability"], sep="\t", index=False)
    summ = pd.read_csv(paths["validation"], sep="\t")
    row = summ.iloc[[1]].assign(set="c01/top_de:paper1")
    summ = pd.concat([summ.assign(method=["", "paper", "graph"]), row.assign(method="top_de")])
    summ.to_csv(paths["validation"], sep="\t", index=False)
    v = trust.read_validation(paths["cv"], paths["stability"], paths["validation"], {}, CLASSES, "tumor")
    ids = set(v.subcommunities["subcommunity"])
    assert ids == {"c01/paper1", "c01/graph1"}
    assert not any(re.search("classical|top_de", s) for s in v.summary["set"].astype(str))


def test_cells_use_the_report_formatting():
    assert [fmt(None), fmt(3.0), fmt(0.98, 3), fmt(True)] == ["–", "3", "0.980", "yes"]
