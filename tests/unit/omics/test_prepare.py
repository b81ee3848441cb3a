"""The prepare stage: validation errors, transforms, split, scaling, end to end."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpsomics.cli import main
from mpsomics.core.errors import InputError
from mpsomics.omics.prepare import (
    detect_scale,
    grouped_split,
    minmax_fit_transform,
    prepare,
    read_expression,
    read_sample_sheet,
)

TCGA_DIR = Path(__file__).resolve().parents[3] / "data" / "tcga_lihc"


def run_ok(args, capsys):
    rc = main(args)
    assert rc == 0, capsys.readouterr().err
    return ad.read_h5ad(args[args.index("--out") + 1])


def run_err(args, capsys, *needles):
    """Run the CLI expecting a one-line input error; no output may be written."""
    out = args[args.index("--out") + 1]
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert "\n" not in err, err
    assert err.startswith("mpsomics prepare: error: ")
    for needle in needles:
        assert needle in err, (needle, err)
    out = Path(out)
    assert not out.exists()
    assert not [p for p in out.parent.glob(f".{out.stem}*")], "temporary output left behind"
    return err


# ------------------------------------------------------------------ validation errors


def test_missing_expression_file(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    d.expression.unlink()
    run_err(d.cli_args(tmp_path / "o.h5ad"), capsys, "expr.tsv", "file not found")


def test_empty_and_header_only(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    d.expression.write_text("")
    run_err(d.cli_args(tmp_path / "o.h5ad"), capsys, "expr.tsv", "empty")
    d.expression.write_text("symbol\t" + "\t".join(d.expr.columns) + "\n")
    run_err(d.cli_args(tmp_path / "o.h5ad"), capsys, "expr.tsv", "header but no data rows")
    d.write()
    d.samples.write_text("sample\tlabel\tpatient\n")
    run_err(d.cli_args(tmp_path / "o.h5ad"), capsys, "samples.tsv", "header but no data rows")


def test_non_numeric(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    e = d.expr.astype(object)
    e.loc["G003", "S005_0"] = "12.3x"
    d.write(expr=e)
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "expr.tsv",
        "non-numeric value '12.3x' for gene 'G003', sample 'S005_0'",
    )


def test_infinite(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    e = d.expr.copy()
    e.loc["G007", "S002_0"] = np.inf
    d.write(expr=e)
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "expr.tsv",
        "infinite value inf for gene 'G007', sample 'S002_0'",
    )


def test_negative_with_linear_scale(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(linear=True)
    e = d.expr.copy()
    e.loc["G004", "S001_0"] = -3.5
    d.write(expr=e)
    err = run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "expr.tsv",
        "negative value -3.5",
        "'G004'",
        "'S001_0'",
    )
    assert "--scale log" in err
    run_err(d.cli_args(tmp_path / "o.h5ad", "--scale", "linear"), capsys, "negative value")


def test_truncated_gzip(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(n_genes=400)
    blob = gzip.compress(d.expression.read_bytes())
    gz = tmp_path / "expr.tsv.gz"
    gz.write_bytes(blob[: len(blob) - 40])
    args = d.cli_args(tmp_path / "o.h5ad")
    args[args.index("--expression") + 1] = str(gz)
    run_err(args, capsys, "expr.tsv.gz", "truncated or corrupt gzip")


def test_matrix_samples_missing_from_sheet(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(n_patients=30)
    d.write(sheet=d.sheet.iloc[:22])
    err = run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "samples.tsv",
        "8 sample(s) of expr.tsv missing from the sheet",
    )
    assert "'S022_0'" in err and "(8 in total)" in err and "'S029_0'" not in err


def test_sheet_samples_missing_from_matrix(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(n_patients=30)
    d.write(expr=d.expr.iloc[:, :27])
    err = run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "samples.tsv",
        "3 sample(s) of the sheet missing from expr.tsv",
    )
    assert "'S027_0'" in err


def test_wrong_sample_column_hint(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    run_err(
        d.cli_args(tmp_path / "o.h5ad", "--sample-col", "patient"),
        capsys,
        "samples.tsv",
        "wrong --sample-col?",
    )


def test_r_mangled_sample_ids_hint(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    d.write(sheet=d.sheet.assign(sample=d.sheet["sample"].str.replace("_", "-")))
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "samples.tsv",
        "24 sample(s) of expr.tsv missing from the sheet",
        "ignoring case and punctuation (e.g. 'S000_0' vs 'S000-0'",
    )


def test_duplicated_sample_ids(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    e = d.expr.copy()
    e.columns = [*e.columns[:-1], e.columns[0]]
    d.write(expr=e)
    run_err(d.cli_args(tmp_path / "o.h5ad"), capsys, "expr.tsv", "duplicated sample ids: 'S000_0'")
    d = synthetic_expression()
    s = d.sheet.copy()
    s.loc[3, "sample"] = s.loc[2, "sample"]
    d.write(sheet=s)
    run_err(
        d.cli_args(tmp_path / "o.h5ad"), capsys, "samples.tsv", "duplicated sample ids", "'S002_0'"
    )


def test_fewer_than_two_classes(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(labels=("tumor",))
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "samples.tsv",
        "fewer than two classes",
        "tumor (24)",
    )


def test_more_than_two_classes(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(n_patients=30, labels=("normal", "tumor", "tumour"))
    err = run_err(
        d.cli_args(tmp_path / "o.h5ad"), capsys, "samples.tsv", "3 classes found", "tumour (10)"
    )
    assert "--merge-other-classes" in err
    # merging is explicit
    adata = run_ok(d.cli_args(tmp_path / "o.h5ad", "--merge-other-classes"), capsys)
    assert list(adata.uns["classes"]) == ["other", "tumor"]
    assert adata.obs["label"].value_counts().to_dict() == {"other": 20, "tumor": 10}
    assert dict(adata.uns["prepare"]["merged_into_other"]) == {"normal": 10, "tumour": 10}


def test_labels_differing_by_case(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(n_patients=30, labels=("normal", "tumor", "Tumor"))
    run_err(
        d.cli_args(tmp_path / "o.h5ad", "--merge-other-classes"),
        capsys,
        "samples.tsv",
        "differ only by case",
        "'Tumor'/'tumor'",
    )


def test_labels_whitespace_stripped(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    s = d.sheet.copy()
    s["label"] = s["label"].where(s.index % 3 > 0, " " + s["label"] + " ")
    d.write(sheet=s)
    adata = run_ok(d.cli_args(tmp_path / "o.h5ad"), capsys)
    assert set(adata.obs["label"]) == {"normal", "tumor"}


def test_label_with_slash(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(labels=("normal", "tumor", "stage I/II"), n_patients=30)
    run_err(
        d.cli_args(tmp_path / "o.h5ad", "--merge-other-classes"),
        capsys,
        "samples.tsv",
        "must not contain '/': 'stage I/II'",
    )


def test_positive_label_not_a_class(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(labels=("control", "case"))
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "samples.tsv",
        "positive label 'tumor' is not a class",
        "case (12)",
    )
    adata = run_ok(d.cli_args(tmp_path / "o.h5ad", "--positive-label", "case"), capsys)
    assert (
        list(adata.uns["classes"]) == ["control", "case"] and adata.uns["positive_label"] == "case"
    )


def test_class_too_small(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(n_patients=20)
    s = d.sheet.copy()
    s.loc[s.index[4:], "label"] = "tumor"
    d.write(sheet=s)
    run_err(
        d.cli_args(tmp_path / "o.h5ad"), capsys, "samples.tsv", "fewer than 5 samples", "normal (2)"
    )


def test_class_in_one_patient_cannot_be_split(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(n_patients=20)
    s = d.sheet.copy()
    s["label"] = "tumor"
    s.loc[:5, "label"] = "normal"
    s.loc[:5, "patient"] = "P_same"
    d.write(sheet=s)
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "samples.tsv",
        "class 'normal' occurs in only 1 group",
    )


def test_transposed_matrix(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    d.expr.T.rename_axis("sample").reset_index().to_csv(d.expression, sep="\t", index=False)
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "expr.tsv",
        "looks transposed",
        "--orientation samples-x-genes",
    )
    adata = run_ok(d.cli_args(tmp_path / "o.h5ad", "--orientation", "samples-x-genes"), capsys)
    assert adata.shape == (24, 30)


def test_group_column_missing(tmp_path, synthetic_expression, capsys, caplog):
    d = synthetic_expression()
    d.write(sheet=d.sheet.drop(columns="patient"))
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "samples.tsv",
        "group column 'patient' not found",
        "--group-col none",
    )
    adata = run_ok(d.cli_args(tmp_path / "o.h5ad", "--group-col", "none"), capsys)
    assert list(adata.obs["group"]) == list(adata.obs_names)
    assert "each sample is its own group" in caplog.text


def test_missing_labels(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    s = d.sheet.copy()
    s.loc[[3, 7], "label"] = ["", "NA"]
    d.write(sheet=s)
    run_err(
        d.cli_args(tmp_path / "o.h5ad"),
        capsys,
        "samples.tsv",
        "2 sample(s) have no 'label': 'S003_0', 'S007_0'",
    )


def test_real_cli_stderr(tmp_path, synthetic_expression):
    """In a real process (logging to stderr), an error ends with one error line, no traceback."""
    import subprocess
    import sys

    d = synthetic_expression()
    d.write(sheet=d.sheet.assign(label="tumor"))
    out = tmp_path / "o.h5ad"
    proc = subprocess.run(
        [sys.executable, "-m", "mpsomics", *d.cli_args(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert lines[-1].startswith("mpsomics prepare: error: ") and "samples.tsv" in lines[-1]
    assert "fewer than two classes" in lines[-1]
    assert [ln for ln in lines if "error" in ln.lower()] == [lines[-1]]
    assert not out.exists()


def test_label_column_missing(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    run_err(
        d.cli_args(tmp_path / "o.h5ad", "--label-col", "class"),
        capsys,
        "samples.tsv",
        "label column 'class' not found",
    )


def test_no_gene_left(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    run_err(
        d.cli_args(tmp_path / "o.h5ad", "--min-expression", "100"),
        capsys,
        "expr.tsv",
        "no gene left",
    )


def test_existing_output_untouched_on_error(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    out = tmp_path / "o.h5ad"
    out.write_text("previous result")
    d.expression.write_text("")
    assert main(d.cli_args(out)) == 2
    assert out.read_text() == "previous result"


@pytest.mark.parametrize(
    "mess", ["bom_crlf", "comma_in_tsv", "r_header_trailing_tab", "quoted_csv"]
)
def test_messy_but_valid_files(tmp_path, synthetic_expression, capsys, mess):
    d = synthetic_expression()
    table = d.expr.rename_axis("symbol").reset_index()
    if mess == "bom_crlf":
        text = "\ufeff" + table.to_csv(sep="\t", index=False).replace("\n", "\r\n")
        d.samples.write_text("\ufeff" + d.sheet.to_csv(sep="\t", index=False), newline="\r\n")
    elif mess == "comma_in_tsv":
        text = table.to_csv(sep=",", index=False)
        d.samples.write_text(d.sheet.to_csv(sep=",", index=False))
    elif mess == "r_header_trailing_tab":
        lines = table.to_csv(sep="\t", index=False).splitlines()
        text = "\n".join([lines[0].split("\t", 1)[1]] + [ln + "\t" for ln in lines[1:]]) + "\n"
    else:
        text = table.to_csv(sep=",", index=False, quoting=1)
    d.expression.write_text(text)
    adata = run_ok(d.cli_args(tmp_path / "o.h5ad"), capsys)
    assert adata.shape == (24, 30)
    np.testing.assert_allclose(
        adata.layers["log"], d.expr.T.loc[adata.obs_names, adata.var_names].to_numpy()
    )


# ------------------------------------------------------------------ transforms


def test_output_contract(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(n_patients=16, samples_per_patient=2)
    adata = run_ok(d.cli_args(tmp_path / "sub" / "o.h5ad"), capsys)
    assert adata.shape == (32, 30)
    assert adata.X.dtype == np.float64 and adata.layers["log"].dtype == np.float64
    assert adata.X.min() >= 0 and adata.X.max() <= 1
    assert set(adata.obs["split"]) == {"train", "test"}
    tr = adata.obs.loc[adata.obs["split"] == "train", "group"]
    te = adata.obs.loc[adata.obs["split"] == "test", "group"]
    assert not set(tr) & set(te)
    assert adata.uns["positive_label"] == "tumor" and list(adata.uns["classes"]) == [
        "normal",
        "tumor",
    ]
    info = adata.uns["prepare"]
    assert info["scale_detected"] == "log" and info["n_genes_out"] == 30
    assert adata.obs["group"].tolist() == [f"P{i // 2:03d}" for i in range(32)]
    assert (
        info["samples_per_class"]["train"]["tumor"] + info["samples_per_class"]["test"]["tumor"]
        == 16
    )
    np.testing.assert_allclose(
        adata.layers["log"], d.expr.T.loc[adata.obs_names, adata.var_names].to_numpy()
    )


def test_uns_is_json_serialisable(synthetic_expression):
    import json

    d = synthetic_expression()
    adata = prepare(*_expr_sheet(d))
    text = json.dumps({k: adata.uns[k] for k in ("prepare", "classes", "positive_label")})
    assert '"n_genes_out": 30' in text


def test_linear_scale_is_log_transformed(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression(linear=True)
    adata = run_ok(d.cli_args(tmp_path / "o.h5ad"), capsys)
    assert adata.uns["prepare"]["scale_detected"] == "linear"
    expect = np.log2(d.expr.T.loc[adata.obs_names, adata.var_names].to_numpy() + 1)
    np.testing.assert_allclose(adata.layers["log"], expect)
    # forcing log keeps the values as they are
    adata = run_ok(
        d.cli_args(tmp_path / "o.h5ad", "--scale", "log", "--min-expression", "0"), capsys
    )
    np.testing.assert_allclose(
        adata.layers["log"], d.expr.T.loc[adata.obs_names, adata.var_names].to_numpy()
    )


def test_detect_scale():
    assert detect_scale(np.array([[0.0, 3.2], [15.9, 7.0]]))[0] == "log"
    assert detect_scale(np.array([[0.0, 3.2], [51.0, np.nan]]))[0] == "linear"
    assert detect_scale(np.array([[0.0, 3.0], [12.0, 7.0]]))[0] == "linear"  # integer counts
    assert detect_scale(np.array([[-2.5, 3.0], [12.0, 7.0]]))[0] == "log"
    assert detect_scale(np.array([[0.0, 1.0], [1.0, 0.0]]))[0] == "log"


def _expr_sheet(d):
    return read_expression(d.expression), read_sample_sheet(d.samples, sample_col="sample")


@pytest.mark.parametrize("rule", ["most_variable", "mean", "max", "first"])
def test_duplicates(synthetic_expression, rule, caplog):
    d = synthetic_expression(n_genes=6)
    e = d.expr.copy()
    e.index = ["A", "B", "A", "C", "A", "D"]
    e.loc["A"] = np.vstack(
        [
            np.full(24, 5.0) + np.arange(24) * 0.01,
            np.linspace(2, 9, 24),
            np.full(24, 8.0) + np.arange(24) * 0.02,
        ]
    )
    d.write(expr=e)
    rows = e.loc["A"].to_numpy()
    adata = prepare(*_expr_sheet(d), duplicates=rule, min_expression=0)
    assert list(adata.var_names) == ["A", "B", "C", "D"]
    expect = {
        "most_variable": rows[1],
        "mean": rows.mean(axis=0),
        "max": rows[2],
        "first": rows[0],
    }[rule]
    np.testing.assert_allclose(adata[d.expr.columns].layers["log"][:, 0], expect)
    assert adata.uns["prepare"]["n_duplicate_symbols"] == 1
    assert adata.uns["prepare"]["n_duplicate_rows_aggregated"] == 2
    assert "1 duplicated gene symbols (2 extra rows)" in caplog.text


def test_excel_mangled_duplicate_is_aggregated(synthetic_expression):
    d = synthetic_expression(n_genes=4)
    e = d.expr.copy()
    e.index = ["MARCHF1", "1-Mar", "2-Sep", "X"]
    d.write(expr=e)
    adata = prepare(*_expr_sheet(d), min_expression=0)
    assert sorted(adata.var_names) == ["MARCHF1", "SEPTIN2", "X"]
    assert (
        adata.uns["prepare"]["n_excel_repaired"] == 2
        and adata.uns["prepare"]["n_duplicate_symbols"] == 1
    )


def test_nan_drop_gene(synthetic_expression, caplog):
    d = synthetic_expression()
    e = d.expr.copy()
    e.loc["G001", "S003_0"] = np.nan
    e.loc["G002", ["S001_0", "S004_0"]] = np.nan
    d.write(expr=e)
    adata = prepare(*_expr_sheet(d))
    assert "G001" not in adata.var_names and "G002" not in adata.var_names and adata.n_vars == 28
    info = adata.uns["prepare"]
    assert (info["n_nan_values"], info["n_nan_genes"], info["n_dropped_nan"]) == (3, 2, 2)
    assert "3 NaN values in 2 genes" in caplog.text


def test_nan_impute_train_median(synthetic_expression):
    d = synthetic_expression()
    e = d.expr.copy()
    e.loc["G001", ["S003_0", "S010_0"]] = np.nan
    d.write(expr=e)
    expr, sheet = _expr_sheet(d)
    adata = prepare(expr, sheet, nan="impute_median")
    assert adata.n_vars == 30 and adata.uns["prepare"]["n_nan_imputed"] == 2
    train = (adata.obs["split"] == "train").to_numpy()
    col = e.loc["G001", adata.obs_names].to_numpy(dtype=float)
    med = np.nanmedian(col[train])
    g = list(adata.var_names).index("G001")
    for s in ("S003_0", "S010_0"):
        assert adata.layers["log"][list(adata.obs_names).index(s), g] == pytest.approx(med)


def test_low_expression_and_constant_genes_judged_on_train_only(synthetic_expression):
    d = synthetic_expression()
    expr, sheet = _expr_sheet(d)
    split = grouped_split(sheet["label"], sheet["group"], 0.25, 0)
    train_samples = list(sheet.index[split == "train"])
    test_samples = list(sheet.index[split == "test"])
    e = d.expr.copy()
    e.loc["G010"] = 0.2  # never expressed
    e.loc["G011"] = 0.2
    e.loc["G011", train_samples[:3]] = 3.0  # 3 of the train samples >= 10 %: kept
    e.loc["G012"] = 4.0  # constant
    e.loc["G013"] = 4.0
    e.loc["G013", test_samples] = 6.0  # varies only on test samples: dropped
    e.loc["G014"] = 0.2
    e.loc["G014", test_samples] = 3.0  # expressed only in test samples: dropped
    d.write(expr=e)
    adata = prepare(*_expr_sheet(d))
    info = adata.uns["prepare"]
    assert "G011" in adata.var_names
    assert not {"G010", "G012", "G013", "G014"} & set(adata.var_names)
    assert (info["n_dropped_low_expression"], info["n_dropped_zero_variance"]) == (2, 2)
    assert adata.n_vars == 26


def test_train_only_scaling(synthetic_expression):
    d = synthetic_expression()
    expr, sheet = _expr_sheet(d)
    a1 = prepare(expr, sheet)
    test = (a1.obs["split"] == "test").to_numpy()
    expr2 = expr.copy()
    expr2.loc[test] = expr2.loc[test] * 3 + 7  # wild test values
    a2 = prepare(expr2, sheet)
    assert list(a2.obs["split"]) == list(a1.obs["split"])
    np.testing.assert_array_equal(a1.var["scale_min"], a2.var["scale_min"])
    np.testing.assert_array_equal(a1.var["scale_max"], a2.var["scale_max"])
    np.testing.assert_array_equal(a1.X[~test], a2.X[~test])
    assert a2.X[test].max() == 1.0 and a2.X.min() >= 0.0


def test_h5ad_input_and_layer(tmp_path, synthetic_expression, capsys):
    d = synthetic_expression()
    x = d.expr.T.to_numpy()
    src = ad.AnnData(X=np.zeros_like(x), layers={"logexpr": x})
    src.obs_names, src.var_names = list(d.expr.columns), list(d.expr.index)
    h5 = tmp_path / "in.h5ad"
    src.write_h5ad(h5)
    args = d.cli_args(tmp_path / "o.h5ad", "--layer", "logexpr")
    args[args.index("--expression") + 1] = str(h5)
    adata = run_ok(args, capsys)
    np.testing.assert_allclose(
        adata.layers["log"], d.expr.T.loc[adata.obs_names, adata.var_names].to_numpy()
    )
    args[args.index("--layer") + 1] = "counts"
    args[args.index("--out") + 1] = str(tmp_path / "err.h5ad")
    run_err(args, capsys, "in.h5ad", "layer 'counts' not found", "'logexpr'")
    src.layers["logexpr"][2, 5] = -np.inf
    src.write_h5ad(h5)
    args[-1] = "logexpr"
    run_err(args, capsys, "in.h5ad", "infinite value -inf for sample 'S002_0', gene 'G005'")
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    run_err(args, capsys, "in.h5ad", "cannot read as AnnData")


def test_prepare_library_error_names_file(synthetic_expression):
    d = synthetic_expression()
    expr, sheet = _expr_sheet(d)
    with pytest.raises(InputError, match="samples.tsv.*fewer than 50 samples"):
        prepare(expr, sheet, min_samples_per_class=50)


# ------------------------------------------------------------------ split & scaling


@st.composite
def _labels_groups(draw):
    n_groups = draw(st.integers(2, 40))
    group_label = draw(st.lists(st.sampled_from(["a", "b"]), min_size=n_groups, max_size=n_groups))
    sizes = draw(st.lists(st.integers(1, 3), min_size=n_groups, max_size=n_groups))
    mixed = draw(st.lists(st.booleans(), min_size=n_groups, max_size=n_groups))
    labels, groups = [], []
    for g in range(n_groups):
        for k in range(sizes[g]):
            lab = group_label[g]
            if mixed[g] and k == 1:  # a patient with a tumor and a normal sample
                lab = "b" if lab == "a" else "a"
            labels.append(lab)
            groups.append(f"p{g}")
    return np.array(labels), np.array(groups)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_labels_groups(), st.sampled_from([0.2, 0.25, 1 / 3, 0.5]), st.integers(0, 2**16))
def test_grouped_split_properties(lg, frac, seed):
    labels, groups = lg
    n_splits = round(1 / frac)
    easy = all(
        len(set(groups[labels == c]) - set(groups[labels != c])) > n_splits for c in ("a", "b")
    )  # every class has more than n_splits single-class patients
    try:
        split = grouped_split(labels, groups, frac, seed)
    except InputError:
        assert not easy, "a feasible split was not found"
        return  # impossible inputs must fail cleanly, never with a wrong split
    assert set(split) == {"train", "test"}
    assert not set(groups[split == "train"]) & set(groups[split == "test"])
    for c in set(labels):
        assert (labels[split == "train"] == c).any() and (labels[split == "test"] == c).any()
    np.testing.assert_array_equal(split, grouped_split(labels, groups, frac, seed))


def test_grouped_split_fraction_and_seed():
    labels = np.array(["tumor"] * 80 + ["normal"] * 20)
    groups = np.array([f"p{i}" for i in range(100)])
    a = grouped_split(labels, groups, 0.25, 0)
    assert (a == "test").sum() == 25
    assert ((a == "test") & (labels == "normal")).sum() == 5
    assert not np.array_equal(a, grouped_split(labels, groups, 0.25, 1))
    with pytest.raises(InputError, match="only 3 groups"):
        grouped_split(labels[:6], np.array(["a", "a", "b", "b", "c", "c"]), 0.25, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 12),
    st.integers(1, 6),
    st.integers(0, 2**16),
)
def test_minmax_properties(n_train, n_genes, seed):
    rng = np.random.default_rng(seed)
    n_test = 5
    x = rng.normal(0, rng.uniform(0.1, 100), size=(n_train + n_test, n_genes))
    x[0] += 1.0  # no constant gene on train
    train = np.zeros(n_train + n_test, bool)
    train[rng.permutation(n_train + n_test)[:n_train]] = True
    if np.any(x[train].max(0) == x[train].min(0)):
        return
    scaled, mins, maxs = minmax_fit_transform(x, train)
    assert scaled.dtype == np.float64
    np.testing.assert_array_equal(mins, x[train].min(0))
    np.testing.assert_array_equal(maxs, x[train].max(0))
    assert (scaled >= 0).all() and (scaled <= 1).all()
    np.testing.assert_array_equal(scaled[train].min(0), 0.0)
    np.testing.assert_array_equal(scaled[train].max(0), 1.0)
    expect = np.clip((x[~train] - mins) / (maxs - mins), 0, 1)
    np.testing.assert_allclose(scaled[~train], expect)
    with pytest.raises(ValueError, match="constant on train"):
        minmax_fit_transform(np.ones((4, 2)), np.array([True, True, False, False]))


# ------------------------------------------------------------------ real data


def test_end_to_end_tcga(tmp_path, capsys):
    out = tmp_path / "prepared" / "expression.h5ad"
    t0 = time.perf_counter()
    rc = main(
        [
            "prepare",
            "--expression",
            str(TCGA_DIR / "TCGA-LIHC_htseq_fpkm_log2p1_symbols_filtered.tsv.gz"),
            "--samples",
            str(TCGA_DIR / "TCGA-LIHC_179_labels.tsv"),
            "--out",
            str(out),
        ]
    )
    seconds = time.perf_counter() - t0
    assert rc == 0, capsys.readouterr().err
    adata = ad.read_h5ad(out)
    assert adata.n_obs == 179 and adata.n_vars > 13000
    assert adata.obs["label"].value_counts().to_dict() == {"tumor": 158, "normal": 21}
    sheet = pd.read_csv(
        TCGA_DIR / "TCGA-LIHC_179_labels.tsv", sep="\t", index_col="aliquot_barcode"
    )
    assert (adata.obs["group"].astype(str) == sheet.loc[adata.obs_names, "patient"]).all()
    by_split = adata.obs.groupby("split", observed=True)["group"].apply(set)
    assert not by_split["train"] & by_split["test"]
    assert pd.crosstab(adata.obs["split"], adata.obs["label"]).to_numpy().min() >= 1
    assert 0.2 < (adata.obs["split"] == "test").mean() < 0.3
    assert adata.X.dtype == np.float64 and adata.X.min() == 0.0 and adata.X.max() == 1.0
    train = (adata.obs["split"] == "train").to_numpy()
    np.testing.assert_allclose(adata.X[train].max(0), 1.0)
    np.testing.assert_allclose(adata.var["scale_max"], adata.layers["log"][train].max(0))
    assert adata.uns["prepare"]["scale_detected"] == "log"
    print(
        f"prepare on TCGA-LIHC: {seconds:.1f} s, {adata.n_vars} genes, {adata.uns['prepare']['samples_per_class']}"
    )
