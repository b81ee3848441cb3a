"""`mpsomics validate` as a user runs it: one job for all cohorts and sets, no partial output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mpsomics.cli import main
from mpsomics.commands import validate as validate_command
from mpsomics.mps.state import MPSState, save_model
from mpsomics.validation.external import COLUMNS

anndata = pytest.importorskip("anndata")

SIGNAL = [f"G{i}" for i in range(4)]
GENES = SIGNAL + [f"P{i:02d}" for i in range(36)]


def log_values(n, rng):
    """Samples x genes log values, alternating normal/tumor; SIGNAL genes co-vary and are up in tumours."""
    y = np.arange(n) % 2
    x = 5 + rng.normal(size=(n, len(GENES)))
    x[:, :4] += 2.0 * y[:, None] + 0.8 * rng.normal(size=(n, 1))
    return x, np.where(y == 1, "tumor", "normal")


def product_model(genes, informative):
    """Bond dimension 1: P(tumor | x) = sin²(π x_informative / 2)."""
    uniform = np.full((1, 2, 1), 1 / np.sqrt(2))
    label = np.array([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 2, 2, 1)
    return MPSState(sites=[label if g == informative else uniform for g in genes],
                    label_site=genes.index(informative), genes=list(genes), classes=["normal", "tumor"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("validate")
    rng = np.random.default_rng(0)
    x, labels = log_values(60, rng)
    split = np.where(np.arange(60) < 45, "train", "test")
    lo, hi = x[split == "train"].min(axis=0), x[split == "train"].max(axis=0)
    obs = pd.DataFrame({"label": labels, "group": [f"p{i}" for i in range(60)], "split": split},
                       index=[f"s{i}" for i in range(60)])
    ad = anndata.AnnData(X=np.clip((x - lo) / (hi - lo), 0, 1), obs=obs,
                         var=pd.DataFrame({"scale_min": lo, "scale_max": hi}, index=GENES))
    ad.uns["classes"] = ["normal", "tumor"]
    ad.uns["positive_label"] = "tumor"
    ad.layers["log"] = x
    ad.write_h5ad(d / "expression.h5ad")
    (d / "genes.txt").write_text("\n".join(SIGNAL) + "\n")
    (d / "selected.txt").write_text("c01\n")
    (d / "pool.txt").write_text("\n".join(GENES) + "\n")
    save_model(product_model(SIGNAL, "G0"), d / "model.npz")
    pd.DataFrame({"gene": SIGNAL[:3], "subcommunity": "c01/graph1", "method": "graph"}).to_csv(
        d / "subs.tsv", sep="\t", index=False)
    # an independent cohort: 40 samples, 20 patients with a tumour and a normal sample each
    cx, clabels = log_values(40, np.random.default_rng(1))
    cols = [f"c{i}" for i in range(40)]
    pd.DataFrame(cx.T, index=pd.Index(GENES, name="symbol"), columns=cols).to_csv(d / "cohort.tsv", sep="\t")
    pd.DataFrame({"gsm": cols, "label": clabels, "patient": [f"q{i // 2}" for i in range(40)]}).to_csv(
        d / "cohort_labels.tsv", sep="\t", index=False)
    # the same cohort as 3 x + 5 (another platform's scale) and without one set gene
    pd.DataFrame(3 * cx.T + 5, index=pd.Index(GENES, name="symbol"), columns=cols).to_csv(
        d / "cohort_affine.tsv", sep="\t")
    pd.DataFrame(cx.T[1:], index=pd.Index(GENES[1:], name="symbol"), columns=cols).to_csv(
        d / "cohort_no_g0.tsv", sep="\t")
    return d


def cohort(d, expression="cohort.tsv", **extra):
    return {"expression": str(d / expression), "samples": str(d / "cohort_labels.tsv"), "sample_col": "gsm",
            "label_col": "label", "group_col": "patient", "positive_label": "tumor", **extra}


def validate(d, out, cohorts, *extra):
    return main(["validate", "--expression", str(d / "expression.h5ad"), "--selected", str(d / "selected.txt"),
                 "--pool", str(d / "pool.txt"), "--genes", str(d / "genes.txt"), "--models",
                 str(d / "model.npz"), "--subcommunities", str(d / "subs.tsv"),
                 "--cohorts-json", json.dumps(cohorts), "--random-sets", "50", "--bootstrap", "100",
                 "--out", str(out), *extra])


def test_one_row_per_cohort_and_set(run, tmp_path, caplog):
    out = tmp_path / "summary.tsv"
    cohorts = {"ext": cohort(run), "affine": cohort(run, "cohort_affine.tsv", values="log"),
               "no_g0": cohort(run, "cohort_no_g0.tsv")}
    with caplog.at_level("WARNING"):
        assert validate(run, out, cohorts) == 0
    t = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=[""])
    assert list(t.columns) == COLUMNS
    assert t[["cohort", "set", "kind"]].values.tolist() == [
        [c, s, k] for c in cohorts for s, k in (("c01", "community"), ("c01/graph1", "subcommunity"))]
    assert (t["n_samples"] == 40).all() and (t["n_positive"] == 20).all()
    t = t.set_index(["cohort", "set"])
    # the planted signal separates the cohort better than random genes of the pool
    for s in ("c01", "c01/graph1"):
        assert t.loc[("ext", s), "auc"] > 0.9 and t.loc[("ext", s), "null_p"] <= 0.05
        assert t.loc[("ext", s), "n_found"] == t.loc[("ext", s), "n_genes"]
    # another scale validates identically (AUC, interval, null, preservation)
    cols = ["auc", "auc_low", "auc_high", "null_p", "preservation_z"]
    np.testing.assert_allclose(t.loc["affine", cols].to_numpy(float), t.loc["ext", cols].to_numpy(float))
    # the model's informative gene missing: counted, named, fed 0.5 -> AUC 0.5
    assert t.loc[("no_g0", "c01"), "n_found"] == 3 and t.loc[("no_g0", "c01"), "missing_genes"] == "G0"
    assert t.loc[("no_g0", "c01"), "auc"] == pytest.approx(0.5)
    assert "no_g0, community c01: 1 of 4 genes missing (fed 0.5 to the model): G0" in caplog.text


def test_without_cohorts_the_header_is_written(run, tmp_path):
    out = tmp_path / "summary.tsv"
    assert validate(run, out, {}) == 0
    assert out.read_text().strip().split("\t") == COLUMNS


@pytest.mark.parametrize("cohorts, message", [
    ("{not json", "not valid JSON"),
    ('{"ext": 3}', "must map each cohort name"),
    (json.dumps({"ext": {"expression": "missing.tsv", "positive_label": "tumor"}}), "missing.tsv"),
    (json.dumps({"ext": {"expression": "x.tsv"}}), "'positive_label' is required"),
    ("BAD_KEY", "unknown key(s) colour"),
    ("BAD_LABEL", "tumour"),
])
def test_bad_cohorts_exit_2_with_one_line_and_no_output(run, tmp_path, cohorts, message, capsys):
    if cohorts == "BAD_KEY":
        cohorts = json.dumps({"ext": cohort(run, colour="red")})
    elif cohorts == "BAD_LABEL":
        cohorts = json.dumps({"ext": cohort(run, positive_label="tumour")})
    out = tmp_path / "summary.tsv"
    args = ["validate", "--expression", str(run / "expression.h5ad"), "--selected", str(run / "selected.txt"),
            "--genes", str(run / "genes.txt"), "--models", str(run / "model.npz"), "--subcommunities",
            str(run / "subs.tsv"), "--cohorts-json", cohorts, "--out", str(out)]
    assert main(args) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mpsomics validate: error:") and message in err[-1]


def test_file_counts_must_match_selected(run, tmp_path, capsys):
    out = tmp_path / "summary.tsv"
    assert main(["validate", "--expression", str(run / "expression.h5ad"), "--selected", str(run / "selected.txt"),
                 "--genes", str(run / "genes.txt"), "--models", "--subcommunities", str(run / "subs.tsv"),
                 "--out", str(out)]) == 2
    assert not out.exists() and "--models has 0 files" in capsys.readouterr().err


def test_pool_defaults_to_the_selected_communities_genes(run, tmp_path):
    out = tmp_path / "summary.tsv"
    assert main(["validate", "--expression", str(run / "expression.h5ad"), "--selected", str(run / "selected.txt"),
                 "--genes", str(run / "genes.txt"), "--models", str(run / "model.npz"),
                 "--subcommunities", str(run / "subs.tsv"), "--cohorts-json", json.dumps({"ext": cohort(run)}),
                 "--random-sets", "20", "--bootstrap", "10", "--out", str(out)]) == 0
    t = pd.read_csv(out, sep="\t")
    assert t["n_pool"].tolist() == [4, 4] and (t["n_random_sets"] == 20).all()


def test_defaults_are_the_workflows():
    """`validate`'s defaults are config `validation`'s (schema)."""
    schema = yaml.safe_load((Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml").read_text())
    defaults = schema["properties"]["validation"]["properties"]
    p = argparse.ArgumentParser()
    validate_command.add_arguments(p)
    a = p.parse_args(["--expression", "e", "--selected", "s", "--out", "o"])
    assert (a.random_sets, a.bootstrap) == (defaults["random_sets"]["default"], defaults["bootstrap"]["default"])


def test_classical_tables_add_rows_and_leave_the_mps_rows_unchanged(run, tmp_path):
    classical = run / "classical.tsv"
    pd.DataFrame({"gene": SIGNAL[1:] + SIGNAL[:2],
                  "subcommunity": ["c01/classical1"] * 3 + ["c01/top_de:graph1"] * 2,
                  "method": ["classical"] * 3 + ["top_de"] * 2}).to_csv(classical, sep="\t", index=False)
    cohorts = {"ext": cohort(run)}
    alone, both = tmp_path / "alone.tsv", tmp_path / "both.tsv"
    assert validate(run, alone, cohorts) == 0
    assert validate(run, both, cohorts, "--classical", str(classical)) == 0
    a = pd.read_csv(alone, sep="\t", keep_default_na=False, na_values=[""])
    b = pd.read_csv(both, sep="\t", keep_default_na=False, na_values=[""])
    assert list(b.columns) == COLUMNS and COLUMNS[-1] == "method"
    assert b["set"].tolist() == ["c01", "c01/graph1", "c01/classical1", "c01/top_de:graph1"]
    assert b["method"].fillna("").tolist() == ["", "graph", "classical", "top_de"]
    assert b["kind"].tolist()[1:] == ["subcommunity"] * 3
    pd.testing.assert_frame_equal(b.iloc[:2], a)  # null_q of the MPS set: its own family
    t = b.set_index("set")
    assert t.loc["c01/classical1", "auc"] > 0.9 and t.loc["c01/classical1", "n_genes"] == 3
    assert t.loc["c01/top_de:graph1", "null_q"] == pytest.approx(t.loc["c01/top_de:graph1", "null_p"])


@pytest.mark.parametrize("table, message", [
    ("gene\tsubcommunity\tmethod\nG0\tc01/graph1\tclassical\n", "also an MPS subcommunity"),
    ("gene\tsubcommunity\tmethod\nG0\tc01/paper1\tpaper\n", "method(s) paper"),
    (None, "--classical has 2 files"),
])
def test_bad_classical_tables_exit_2(run, tmp_path, table, message, capsys):
    path = tmp_path / "classical.tsv"
    path.write_text(table or "gene\tsubcommunity\tmethod\n")
    files = [str(path)] if table else [str(path), str(path)]
    out = tmp_path / "summary.tsv"
    assert validate(run, out, {"ext": cohort(run)}, "--classical", *files) == 2
    assert not out.exists() and message in capsys.readouterr().err
