"""``mpsomics cv`` and ``mpsomics cv-summary`` end to end on a tiny synthetic AnnData."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.commands import cv as cv_command
from mpsomics.commands import cv_summary
from mpsomics.validation.crossval import COLUMNS, SUMMARY_COLUMNS

ROOT = Path(__file__).resolve().parents[2]

anndata = pytest.importorskip("anndata")

GENES = [f"G{i}" for i in range(4)]
#: the contract of docs/outputs.md (the rules and the report read these)
DECLARED = [
    "community", "model", "n_genes", "n_folds", "auc_mean", "auc_low", "auc_high",
    "balanced_accuracy_mean", "balanced_accuracy_low", "balanced_accuracy_high",
    "permutation_p", "n_permutations", "test_auc", "test_auc_low", "test_auc_high",
    "test_balanced_accuracy", "test_n_positive", "test_n_negative",
]  # fmt: skip
FAST = ["--folds", "3", "--repeats", "2", "--permutations", "4", "--permutation-epochs", "1",
        "--bootstrap", "50", "--bond-dim", "2", "--epochs", "2", "--lr", "0.05"]


def make_adata(path, n=60, normal_patients=None):
    """Planted signal in G0/G1; patients p0..: every 6th a tumour-normal pair."""
    rng = np.random.default_rng(0)
    labels, groups = [], []
    p = 0
    while len(labels) < n:
        if p % 6 == 0:
            labels += ["tumor", "normal"]
            groups += [f"p{p}", f"p{p}"]
        else:
            labels.append("tumor" if p % 3 else "normal")
            groups.append(f"p{p}")
        p += 1
    labels, groups = labels[:n], groups[:n]
    if normal_patients is not None:  # keep only that many patients with a normal sample
        seen: list[str] = []
        for i, (lab, g) in enumerate(zip(labels, groups, strict=True)):
            if lab == "normal":
                if g not in seen and len(seen) >= normal_patients:
                    labels[i] = "tumor"
                elif g not in seen:
                    seen.append(g)
    y = (np.asarray(labels) == "tumor").astype(float)
    X = rng.random((n, len(GENES) + 1)) * 0.5
    X[:, :2] += 0.5 * y[:, None]
    obs = pd.DataFrame(
        {"label": labels, "group": groups,
         "split": np.where(np.arange(n) < 2 * n // 3, "train", "test")},
        index=[f"s{i}" for i in range(n)],
    )
    ad = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame(index=GENES + ["EXTRA"]))
    ad.uns["classes"] = ["normal", "tumor"]
    ad.uns["positive_label"] = "tumor"
    ad.layers["log"] = 10.0 * X
    ad.write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cv")
    h5 = make_adata(d / "expression.h5ad")
    genes = d / "genes.txt"
    genes.write_text("\n".join(GENES) + "\n")
    assert main(["train", "--expression", str(h5), "--genes", str(genes), "--out-dir",
                 str(d / "mps"), "--epochs", "2", "--bond-dim", "2", "--observe-every", "0",
                 "--checkpoint-every", "0"]) == 0
    return d, h5, genes, d / "mps" / "model.npz"


def _cv(h5, genes, model, out, *extra):
    return ["cv", "--expression", str(h5), "--genes", str(genes), "--model", str(model),
            "--out", str(out), *FAST, *extra]


def test_cv_writes_the_declared_columns_and_summary_adds_q(inputs, tmp_path):
    d, h5, genes, model = inputs
    out = tmp_path / "cv" / "c01.tsv"
    # the config's whole `mps` section is accepted, incl. options the fits ignore
    assert main(_cv(h5, genes, model, out, "--community", "c01", "--threads", "2",
                    "--observe-every", "1", "--checkpoint-every", "10", "--method", "sweep",
                    "--output-scale", "profiled", "--seed", "3")) == 0
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == list(COLUMNS)
    assert set(DECLARED) <= set(table.columns)
    assert table["model"].tolist() == ["mps", "logistic_regression", "random_forest"]
    assert (table["community"] == "c01").all() and (table["n_genes"] == 4).all()
    assert (table["n_folds"] == 3).all() and (table["n_repeats"] == 2).all()
    assert table["test_model"].tolist() == ["mps", "logistic_regression", "random_forest"]
    n_test_pos = int(
        (anndata.read_h5ad(h5).obs.query("split == 'test'")["label"] == "tumor").sum()
    )
    assert (table["test_n_positive"] == n_test_pos).all()
    assert (table["auc_low"] <= table["auc_mean"]).all() and (table["auc_mean"] <= table["auc_high"]).all()
    assert table["n_permutations"].tolist() == [4, 4, 0]
    # a second community, then the summary
    out2 = tmp_path / "cv" / "c02.tsv"
    assert main(_cv(h5, genes, model, out2, "--community", "c02", "--permutations", "0")) == 0
    summary = tmp_path / "cv.tsv"
    assert main(["cv-summary", str(out), str(out2), "--out", str(summary)]) == 0
    s = pd.read_csv(summary, sep="\t")
    assert list(s.columns) == list(SUMMARY_COLUMNS)
    assert s["community"].tolist() == ["c01"] * 3 + ["c02"] * 3
    # one p per model in c01 (c02 has no null): q = p (BH of one value)
    assert np.allclose(s["permutation_q"][:2], s["permutation_p"][:2])
    assert s["permutation_q"][2:].isna().all()


def _fails(argv, capsys, *needles):
    """Exit 2, ONE stderr line naming the problem."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith(f"mpsomics {argv[0]}: error: "), err
    for needle in needles:
        assert needle in err[0]


def test_bad_input_exits_2_with_one_line_and_writes_nothing(inputs, tmp_path, capsys):
    d, h5, genes, model = inputs
    out = tmp_path / "c.tsv"
    missing = tmp_path / "missing.txt"
    missing.write_text("G0\nNOPE\n")
    _fails(_cv(h5, missing, model, out), capsys, "NOPE", "missing from the expression file")
    other = tmp_path / "other.txt"
    other.write_text("G0\nG1\nG2\nEXTRA\n")
    _fails(_cv(h5, other, model, out), capsys, str(model), "EXTRA")
    one = tmp_path / "one.txt"
    one.write_text("G0\n")
    _fails(_cv(h5, one, model, out), capsys, "at least 2 genes")
    few = make_adata(tmp_path / "few.h5ad", normal_patients=1)
    _fails(_cv(few, genes, model, out), capsys, str(few), "at least 2 patients")
    _fails(["cv-summary", str(genes), "--out", str(out)], capsys, str(genes))
    assert not out.exists()


def test_bad_options_are_usage_errors(inputs, tmp_path):
    d, h5, genes, model = inputs
    out = tmp_path / "c.tsv"
    for bad in (["--folds", "1"], ["--permutations", "-1"], ["--bond-dim", "0"],
                ["--method", "dmrg"]):
        proc = subprocess.run([sys.executable, "-m", "mpsomics", *_cv(h5, genes, model, out), *bad],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, bad
        assert proc.stderr.strip().splitlines()[-1].startswith("mpsomics cv: error: argument")
    assert not out.exists()


def test_options_and_defaults():
    import argparse

    p = argparse.ArgumentParser()
    cv_command.add_arguments(p)
    a = p.parse_args(["--expression", "e", "--genes", "g", "--model", "m", "--out", "o"])
    # the command's defaults are the workflow's (config schema `validation`)
    import yaml

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    defaults = {k: v.get("default") for k, v in schema["properties"]["validation"]["properties"].items()}
    assert (a.folds, a.repeats, a.permutations, a.permutation_epochs, a.bootstrap) == tuple(
        defaults[k] for k in ("folds", "repeats", "permutations", "permutation_epochs", "bootstrap"))
    assert (a.forest_permutations, a.observe_every, a.threads, a.seed) == (0, 0, 1, 0)
    p = argparse.ArgumentParser()
    cv_summary.add_arguments(p)
    assert p.parse_args(["a.tsv", "b.tsv", "--out", "o"]).tables == ["a.tsv", "b.tsv"]
