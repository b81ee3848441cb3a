"""`mpsomics predict` as a user runs it, on a model trained by `mpsomics train`."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.commands import predict as predict_command

anndata = pytest.importorskip("anndata")

SIGNAL = [f"G{i}" for i in range(4)]
GENES = SIGNAL + [f"P{i:02d}" for i in range(12)]


def log_values(n, rng):
    """Samples x genes log values, alternating normal/tumor; SIGNAL genes up in tumours."""
    y = np.arange(n) % 2
    x = 5 + rng.normal(size=(n, len(GENES)))
    x[:, :4] += 2.0 * y[:, None]
    return x, np.where(y == 1, "tumor", "normal")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A prepared .h5ad, its log table and sheet, and a model trained on it by `mpsomics train`."""
    d = tmp_path_factory.mktemp("predict")
    x, labels = log_values(60, np.random.default_rng(0))
    samples = [f"s{i}" for i in range(60)]
    pd.DataFrame(x.T, index=pd.Index(GENES, name="symbol"), columns=samples).to_csv(d / "tcga.tsv", sep="\t")
    pd.DataFrame({"sample": samples, "label": labels, "patient": [f"p{i // 2}" for i in range(60)]}).to_csv(
        d / "sheet.tsv", sep="\t", index=False)
    assert main(["prepare", "--expression", str(d / "tcga.tsv"), "--samples", str(d / "sheet.tsv"),
                 "--sample-col", "sample", "--group-col", "patient", "--values", "log", "--min-expression", "0",
                 "--out", str(d / "expression.h5ad")]) == 0
    (d / "genes.txt").write_text("\n".join(SIGNAL) + "\n")
    assert main(["train", "--expression", str(d / "expression.h5ad"), "--genes", str(d / "genes.txt"),
                 "--out-dir", str(d / "mps"), "--epochs", "3", "--bond-dim", "2", "--observe-every", "0",
                 "--checkpoint-every", "0"]) == 0
    return d


def predict(*args):
    return main(["predict", *map(str, args)])


def test_prepared_input_reproduces_the_training_time_scores(run, tmp_path):
    from mpsomics.core.readers import read_prepared
    from mpsomics.mps.contract import log_scores
    from mpsomics.mps.state import load_model

    out = tmp_path / "p.tsv"
    assert predict("--model", run / "mps" / "model.npz", "--expression", run / "expression.h5ad", "--out", out) == 0
    t = pd.read_csv(out, sep="\t")
    adata = read_prepared(run / "expression.h5ad")
    model = load_model(run / "mps" / "model.npz")
    scaled, _ = log_scores(model, np.asarray(adata[:, model.genes].X, dtype=float))  # what training evaluates
    expected = scaled**2
    assert list(t.columns) == ["sample", "probability_normal", "probability_tumor", "predicted", "label", "split"]
    np.testing.assert_allclose(t[["probability_normal", "probability_tumor"]], expected, rtol=1e-8, atol=1e-12)
    assert t["predicted"].tolist() == np.asarray(model.classes)[expected.argmax(axis=1)].tolist()
    assert t["label"].tolist() == adata.obs["label"].astype(str).tolist()
    assert t["split"].tolist() == adata.obs["split"].astype(str).tolist()
    # a model that learned anything predicts its training samples
    train = t[t["split"] == "train"]
    assert (train["predicted"] == train["label"]).mean() > 0.8
    # the raw table scaled by the training min-max of --reference gives the same scores
    out2 = tmp_path / "p2.tsv"
    assert predict("--model", run / "mps" / "model.npz", "--expression", run / "tcga.tsv", "--values", "log",
                   "--scaling", "train", "--reference", run / "expression.h5ad", "--samples", run / "sheet.tsv",
                   "--out", out2) == 0
    t2 = pd.read_csv(out2, sep="\t")
    np.testing.assert_allclose(t2["probability_tumor"], t["probability_tumor"], rtol=1e-8, atol=1e-12)
    assert t2["label"].tolist() == t["label"].tolist()


def test_cohort_scaling_is_the_default_and_affine_invariant(run, tmp_path):
    table = pd.read_csv(run / "tcga.tsv", sep="\t", index_col=0)
    (3 * table + 5).to_csv(tmp_path / "shifted.tsv", sep="\t")
    (2 ** table - 1).round(6).to_csv(tmp_path / "linear.tsv", sep="\t")  # the same on the linear scale
    outs = []
    for src, values in ((run / "tcga.tsv", "log"), (tmp_path / "shifted.tsv", "log"), (tmp_path / "linear.tsv", "linear")):
        outs.append(tmp_path / f"o{len(outs)}.tsv")
        assert predict("--model", run / "mps" / "model.npz", "--expression", src, "--values", values,
                       "--out", outs[-1]) == 0
    a, b, c = (pd.read_csv(o, sep="\t") for o in outs)
    np.testing.assert_allclose(a["probability_tumor"], b["probability_tumor"], rtol=1e-9)
    np.testing.assert_allclose(a["probability_tumor"], c["probability_tumor"], rtol=1e-5)
    assert "label" not in a.columns and set(a["predicted"]) <= {"normal", "tumor"}


@pytest.mark.parametrize("extra, message", [
    (["--scaling", "train"], "--reference"),
    (["--samples", "SHEET", "--sample-col", "label"], "--sample-col"),
    (["--expression", "MISSING"], "missing.tsv"),
])
def test_bad_input_exits_2_with_one_line_and_no_output(run, tmp_path, extra, message, capsys):
    out = tmp_path / "p.tsv"
    extra = [str(run / "sheet.tsv") if e == "SHEET" else str(tmp_path / "missing.tsv") if e == "MISSING" else e
             for e in extra]
    args = ["--model", run / "mps" / "model.npz", "--expression", run / "tcga.tsv", "--values", "log", *extra]
    assert predict(*args, "--out", out) == 2
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mpsomics predict: error:") and message in err[-1]


def test_a_model_gene_missing_from_the_table_is_an_error(run, tmp_path, capsys):
    table = pd.read_csv(run / "tcga.tsv", sep="\t", index_col=0).drop(index="G2")
    table.to_csv(tmp_path / "no_g2.tsv", sep="\t")
    out = tmp_path / "p.tsv"
    assert predict("--model", run / "mps" / "model.npz", "--expression", tmp_path / "no_g2.tsv", "--out", out) == 2
    assert not out.exists() and "1 model gene(s) missing: G2" in capsys.readouterr().err


def test_cohort_scaling_is_the_documented_default():
    p = argparse.ArgumentParser()
    predict_command.add_arguments(p)
    assert p.parse_args(["--model", "m", "--expression", "e", "--out", "o"]).scaling == "cohort"
