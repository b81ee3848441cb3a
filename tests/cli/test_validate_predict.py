"""`mpsomics validate` and `mpsomics predict` as a user runs them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.validation.external import COLUMNS

anndata = pytest.importorskip("anndata")

SIGNAL = [f"G{i}" for i in range(4)]
GENES = SIGNAL + [f"P{i:02d}" for i in range(36)]


def log_values(n, rng):
    """Samples x genes log values, alternating normal/tumor; SIGNAL genes up in tumours."""
    y = np.arange(n) % 2
    x = 5 + rng.normal(size=(n, len(GENES)))
    x[:, :4] += 2.0 * y[:, None]
    return x, np.where(y == 1, "tumor", "normal")


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
    pd.DataFrame(x.T, index=pd.Index(GENES, name="symbol"), columns=obs.index).to_csv(d / "tcga.tsv", sep="\t")
    (d / "genes.txt").write_text("\n".join(SIGNAL) + "\n")
    (d / "selected.txt").write_text("c01\n")
    (d / "pool.txt").write_text("\n".join(GENES) + "\n")
    pd.DataFrame({"gene": SIGNAL[:3], "subcommunity": "c01/graph1", "method": "graph"}).to_csv(
        d / "subs.tsv", sep="\t", index=False)
    assert main(["train", "--expression", str(d / "expression.h5ad"), "--genes", str(d / "genes.txt"),
                 "--out-dir", str(d / "mps"), "--epochs", "3", "--bond-dim", "2", "--observe-every", "0",
                 "--checkpoint-every", "0"]) == 0
    # an independent cohort: 40 samples, 20 paired patients
    cx, clabels = log_values(40, np.random.default_rng(1))
    cols = [f"c{i}" for i in range(40)]
    pd.DataFrame(cx.T, index=pd.Index(GENES, name="symbol"), columns=cols).to_csv(d / "cohort.tsv", sep="\t")
    pd.DataFrame({"gsm": cols, "label": clabels, "patient": [f"q{i // 2}" for i in range(40)]}).to_csv(
        d / "cohort_labels.tsv", sep="\t", index=False)
    return d


def cohorts_json(d):
    return json.dumps({"ext": {"expression": str(d / "cohort.tsv"), "samples": str(d / "cohort_labels.tsv"),
                               "sample_col": "gsm", "label_col": "label", "group_col": "patient",
                               "positive_label": "tumor"}})


def validate(d, out, cohorts):
    return main(["validate", "--expression", str(d / "expression.h5ad"), "--selected", str(d / "selected.txt"),
                 "--pool", str(d / "pool.txt"), "--genes", str(d / "genes.txt"), "--models",
                 str(d / "mps" / "model.npz"), "--subcommunities", str(d / "subs.tsv"),
                 "--cohorts-json", cohorts, "--random-sets", "50", "--bootstrap", "100", "--out", str(out)])


def test_validate_writes_one_row_per_cohort_and_set(run, tmp_path):
    out = tmp_path / "summary.tsv"
    assert validate(run, out, cohorts_json(run)) == 0
    t = pd.read_csv(out, sep="\t")
    assert list(t.columns) == COLUMNS
    assert t[["set", "kind"]].values.tolist() == [["c01", "community"], ["c01/graph1", "subcommunity"]]
    assert (t["n_samples"] == 40).all() and (t["n_positive"] == 20).all()
    assert (t["n_found"] == t["n_genes"]).all()
    # the planted signal separates the cohort better than random network genes
    assert (t["auc"] > 0.9).all() and (t["null_p"] <= 0.05).all()


def test_validate_without_cohorts_writes_the_header(run, tmp_path):
    out = tmp_path / "summary.tsv"
    assert validate(run, out, "{}") == 0
    assert out.read_text().strip().split("\t") == COLUMNS


@pytest.mark.parametrize("cohorts", ["{not json", '{"ext": 3}', '{"ext": {"expression": "missing.tsv"}}'])
def test_validate_bad_cohorts_exit_2_without_output(run, tmp_path, cohorts, capsys):
    out = tmp_path / "summary.tsv"
    assert validate(run, out, cohorts) == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err and ("cohorts" in err[-1] or "positive_label" in err[-1] or "missing" in err[-1])


def test_predict_reproduces_training_time_scores(run, tmp_path):
    from mpsomics.core.readers import read_prepared
    from mpsomics.mps.state import load_model
    from mpsomics.omics.scores import community_probability

    out = tmp_path / "p.tsv"
    assert main(["predict", "--model", str(run / "mps" / "model.npz"), "--expression",
                 str(run / "expression.h5ad"), "--out", str(out)]) == 0
    t = pd.read_csv(out, sep="\t")
    adata = read_prepared(run / "expression.h5ad")
    expected = community_probability(adata, load_model(run / "mps" / "model.npz"), "tumor")
    np.testing.assert_allclose(t["probability_tumor"], expected, rtol=1e-5)
    np.testing.assert_allclose(t["probability_tumor"] + t["probability_normal"], 1.0, rtol=1e-9)
    assert t["split"].tolist() == adata.obs["split"].tolist()
    # the raw table with the training min-max gives the same scores
    out2 = tmp_path / "p2.tsv"
    assert main(["predict", "--model", str(run / "mps" / "model.npz"), "--expression", str(run / "tcga.tsv"),
                 "--values", "log", "--scaling", "train", "--reference", str(run / "expression.h5ad"),
                 "--out", str(out2)]) == 0
    np.testing.assert_allclose(pd.read_csv(out2, sep="\t")["probability_tumor"], expected, rtol=1e-5)


def test_predict_cohort_scaling_is_affine_invariant(run, tmp_path):
    table = pd.read_csv(run / "cohort.tsv", sep="\t", index_col=0)
    (3 * table + 5).to_csv(tmp_path / "shifted.tsv", sep="\t")
    outs = []
    for i, src in enumerate((run / "cohort.tsv", tmp_path / "shifted.tsv")):
        outs.append(tmp_path / f"o{i}.tsv")
        assert main(["predict", "--model", str(run / "mps" / "model.npz"), "--expression", str(src),
                     "--values", "log", "--samples", str(run / "cohort_labels.tsv"), "--sample-col", "gsm",
                     "--out", str(outs[-1])]) == 0
    a, b = (pd.read_csv(o, sep="\t") for o in outs)
    np.testing.assert_allclose(a["probability_tumor"], b["probability_tumor"], rtol=1e-9)
    assert (a["label"] != "").all() and set(a["predicted"]) <= {"normal", "tumor"}


def test_predict_train_scaling_needs_a_reference(run, tmp_path, capsys):
    out = tmp_path / "p.tsv"
    assert main(["predict", "--model", str(run / "mps" / "model.npz"), "--expression", str(run / "cohort.tsv"),
                 "--scaling", "train", "--out", str(out)]) == 2
    assert not out.exists() and "--reference" in capsys.readouterr().err


def test_defaults_are_the_workflows():
    """`validate`'s defaults are config `validation`'s (schema); `predict` defaults to cohort scaling."""
    import argparse
    from pathlib import Path

    import yaml

    from mpsomics.commands import predict as predict_command
    from mpsomics.commands import validate as validate_command

    schema = yaml.safe_load((Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml").read_text())
    defaults = schema["properties"]["validation"]["properties"]
    p = argparse.ArgumentParser()
    validate_command.add_arguments(p)
    a = p.parse_args(["--expression", "e", "--selected", "s", "--pool", "p", "--out", "o"])
    assert (a.random_sets, a.bootstrap) == (defaults["random_sets"]["default"], defaults["bootstrap"]["default"])
    p = argparse.ArgumentParser()
    predict_command.add_arguments(p)
    assert p.parse_args(["--model", "m", "--expression", "e", "--out", "o"]).scaling == "cohort"


def test_validate_pool_defaults_to_the_selected_communities_genes(run, tmp_path, caplog):
    out = tmp_path / "summary.tsv"
    assert main(["validate", "--expression", str(run / "expression.h5ad"), "--selected", str(run / "selected.txt"),
                 "--genes", str(run / "genes.txt"), "--models", str(run / "mps" / "model.npz"),
                 "--subcommunities", str(run / "subs.tsv"), "--cohorts-json", cohorts_json(run),
                 "--random-sets", "20", "--bootstrap", "10", "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t")
    assert list(table["set"]) == ["c01", "c01/graph1"]
    # pool = the 4 SIGNAL genes: every random 4-set is the community itself, the 3-sets overlap it
    assert table["n_found"].tolist() == [4, 3]
    assert (table["n_random_sets"] == 20).all()
