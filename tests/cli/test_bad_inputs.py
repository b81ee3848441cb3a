"""Malformed inputs real users produce, run through the real CLI in a subprocess.

The corpus is ``tests/data/bad/`` (made by ``make_corpus.py``, every case listed in
its README.md). Each case either fails with exit code 2 and ONE stderr line
``mpsomics <stage>: error: <file>: <problem>`` and no output written (a pre-existing
output is left untouched), or is a documented repair: exit 0, the repair logged,
the repaired result in the output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "data" / "bad"
GOOD_EXPR = BAD / "good_expression.tsv"
GOOD_SHEET = BAD / "good_samples.tsv"
GENES = ["TP53", "MYC", "EGFR", "ALB", "AFP", "GPC3", "APOA1", "CYP3A4"]
SAMPLES = [f"S{i:02d}" for i in range(1, 13)]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mpsomics", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
    )


def prepare_args(
    expr: str | Path = GOOD_EXPR, sheet: str | Path = GOOD_SHEET, *extra: str
) -> list[str]:
    return ["prepare", "--expression", BAD / expr, "--samples", BAD / sheet, *extra]


def enrichment_args(
    library: str = "gmt_empty_sets.gmt",
    genes: str = "genes.txt",
    *extra: str,
    background: bool = True,
) -> list[str]:
    bg = ["--background", BAD / "genes.txt"] if background else []
    return [
        "enrichment", "--genes", BAD / genes, "--community", "c01", *bg,
        "--library", f"lib={BAD / library}", "--min-set-size", "2", *extra,
    ]  # fmt: skip


@dataclass
class Bad:
    """A case that must fail: ``file`` is named in the message with ``needles``."""

    args: list
    file: str
    needles: tuple[str, ...]
    out: str = "out.h5ad"


ERRORS: dict[str, Bad] = {
    # --- expression matrix ---------------------------------------------------------
    "empty": Bad(prepare_args("empty.tsv"), "empty.tsv", ("file is empty",)),
    "header_only": Bad(
        prepare_args("header_only.tsv"), "header_only.tsv", ("header but no data rows",)
    ),
    "duplicated_samples": Bad(
        prepare_args("duplicated_samples.tsv"),
        "duplicated_samples.tsv",
        ("duplicated sample ids", "'S05'"),
    ),
    "inf": Bad(
        prepare_args("inf.tsv"), "inf.tsv", ("infinite value inf", "'AFP'", "'S03'", "line 6")
    ),
    "negative_linear": Bad(
        prepare_args("negative_linear.tsv"),
        "negative_linear.tsv",
        ("negative value -5", "'GPC3'", "'S10'", "linear-scale", "--scale log"),
    ),
    "string_in_numeric": Bad(
        prepare_args("string_in_numeric.tsv"),
        "string_in_numeric.tsv",
        ("non-numeric value 'n.d.'", "'APOA1'", "'S11'", "line 8"),
    ),
    "transposed": Bad(
        prepare_args("transposed.tsv"),
        "transposed.tsv",
        ("looks transposed", "--orientation samples-x-genes"),
    ),
    "truncated_gzip": Bad(
        prepare_args("truncated.tsv.gz"), "truncated.tsv.gz", ("truncated or corrupt gzip",)
    ),
    "ragged_row": Bad(
        prepare_args("ragged_row.tsv"),
        "ragged_row.tsv",
        ("line 5 has 11 fields but the header has 13",),
    ),
    "semicolon_decimal_comma": Bad(
        prepare_args("semicolon_decimal_comma.csv"),
        "semicolon_decimal_comma.csv",
        ("non-numeric value '8,37'", "'TP53'", "decimal comma"),
    ),
    "xlsx_renamed": Bad(
        prepare_args("xlsx_renamed.tsv"), "xlsx_renamed.tsv", ("Excel/zip file", "tab-separated")
    ),
    "not_hdf5": Bad(
        prepare_args("not_hdf5.h5ad"), "not_hdf5.h5ad", ("cannot read as AnnData .h5ad",)
    ),
    # --- sample sheet ----------------------------------------------------------------
    "sheet_missing_sample": Bad(
        prepare_args(sheet="sheet_missing_sample.tsv"),
        "sheet_missing_sample.tsv",
        ("1 sample(s) of good_expression.tsv missing from the sheet", "'S12'"),
    ),
    "sheet_extra_sample": Bad(
        prepare_args(sheet="sheet_extra_sample.tsv"),
        "sheet_extra_sample.tsv",
        ("1 sample(s) of the sheet missing from good_expression.tsv", "'S13'"),
    ),
    "sheet_typo_class": Bad(
        prepare_args(sheet="sheet_typo_class.tsv"),
        "sheet_typo_class.tsv",
        ("3 classes found", "tumour (1)", "--merge-other-classes"),
    ),
    "sheet_single_class": Bad(
        prepare_args(sheet="sheet_single_class.tsv"),
        "sheet_single_class.tsv",
        ("fewer than two classes", "tumor (12)"),
    ),
    "sheet_one_sample_class": Bad(
        prepare_args(sheet="sheet_one_sample_class.tsv"),
        "sheet_one_sample_class.tsv",
        ("fewer than 5 samples", "normal (1)"),
    ),
    "sheet_one_sample_class_allowed": Bad(  # allowed by the threshold: no split exists
        prepare_args(
            "good_expression.tsv", "sheet_one_sample_class.tsv", "--min-samples-per-class", "1"
        ),
        "sheet_one_sample_class.tsv",
        ("class 'normal' occurs in only 1 group(s)", "both train and test"),
    ),
    "test_fraction_too_small": Bad(  # 10 folds but only 6 samples per class: sklearn refuses
        prepare_args("good_expression.tsv", "good_samples.tsv", "--test-fraction", "0.1"),
        "good_samples.tsv",
        ("test fraction 0.1 needs 10 folds", "normal: 6, tumor: 6", "larger --test-fraction"),
    ),
    "sheet_no_label_col": Bad(
        prepare_args(sheet="sheet_no_label_col.tsv"),
        "sheet_no_label_col.tsv",
        ("label column 'label' not found", "'aliquot_barcode', 'patient'"),
    ),
    "sheet_case_labels": Bad(
        prepare_args(sheet="sheet_case_labels.tsv"),
        "sheet_case_labels.tsv",
        ("differ only by case", "'Tumor'/'tumor'"),
    ),
    "sheet_duplicated_sample": Bad(
        prepare_args(sheet="sheet_duplicated_sample.tsv"),
        "sheet_duplicated_sample.tsv",
        ("duplicated sample ids", "'S11'"),
    ),
    # --- enrichment inputs ---------------------------------------------------------
    "gmt_space_separated": Bad(
        enrichment_args("gmt_space_separated.gmt"),
        "gmt_space_separated.gmt",
        ("line 2", "at least 3 tab-separated fields", "space-separated"),
        out="enrichment.tsv",
    ),
    "gmt_all_empty": Bad(
        enrichment_args("gmt_all_empty.gmt"),
        "gmt_all_empty.gmt",
        ("no gene set with at least one gene (2 empty sets)",),
        out="enrichment.tsv",
    ),
    "gmt_duplicated_term": Bad(
        enrichment_args("gmt_duplicated_term.gmt"),
        "gmt_duplicated_term.gmt",
        ("line 3", "duplicated term name 'LIVER'"),
        out="enrichment.tsv",
    ),
    "genes_utf16": Bad(
        enrichment_args(genes="utf16.tsv"), "utf16.tsv", ("not UTF-8 text",), out="enrichment.tsv"
    ),
    "subcommunities_xlsx": Bad(
        enrichment_args(
            "gmt_empty_sets.gmt", "genes.txt", "--subcommunities", str(BAD / "xlsx_renamed.tsv")
        ),
        "xlsx_renamed.tsv",
        ("Excel/zip file",),
        out="enrichment.tsv",
    ),
    "background_not_hdf5": Bad(
        enrichment_args(
            "gmt_empty_sets.gmt",
            "genes.txt",
            "--expression",
            str(BAD / "not_hdf5.h5ad"),
            background=False,
        ),
        "not_hdf5.h5ad",
        ("cannot read as AnnData .h5ad",),  # read_prepared, as for every stage
        out="enrichment.tsv",
    ),
    # --- observe -----------------------------------------------------------------------
    "model_truncated": Bad(
        ["observe", "--model", BAD / "model_truncated.npz"],
        "model_truncated.npz",
        ("corrupt or unreadable model file",),
        out="observables",
    ),
    "model_is_a_tsv": Bad(
        ["observe", "--model", GOOD_EXPR],
        "good_expression.tsv",
        ("not an .npz (zip) archive",),
        out="observables",
    ),
}


def check_error(case: Bad, proc: subprocess.CompletedProcess) -> str:
    stage = str(case.args[0])
    err = proc.stderr.rstrip("\n")
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert sum(ln.startswith("mpsomics ") for ln in err.splitlines()) == 1, err
    m = re.match(rf"mpsomics {stage}: error: (.+?): ", last)
    assert m, last
    assert Path(m.group(1)).name == case.file, last
    for needle in case.needles:
        assert needle in last, (needle, last)
    return last


#: Cases run with a pre-existing output, which must be left untouched (the others
#: run without one and must not create it): a reader error, a validation error
#: after reading, a GMT error and an output directory (observe).
CLOBBER = {"truncated_gzip", "sheet_typo_class", "gmt_space_separated", "model_truncated"}


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_input_fails_with_one_line_and_writes_nothing(name, tmp_path):
    case = ERRORS[name]
    outdir = tmp_path / "results"
    outdir.mkdir()
    out = outdir / case.out
    if name in CLOBBER:
        if case.out == "observables":
            out.mkdir()
            (out / "summary.json").write_text('{"previous": true}\n')
        else:
            out.write_bytes(b"previous result\n")
    before = {p.relative_to(outdir): p.read_bytes() for p in outdir.rglob("*") if p.is_file()}
    flag = "--out-dir" if case.out == "observables" else "--out"  # a directory or a file
    proc = cli(*case.args, flag, out, cwd=tmp_path)
    check_error(case, proc)
    after = {p.relative_to(outdir): p.read_bytes() for p in outdir.rglob("*") if p.is_file()}
    assert after == before, "output clobbered or partial output left behind"
    assert sorted(p.name for p in outdir.iterdir()) == ([case.out] if name in CLOBBER else []), (
        "temporary file left behind"
    )


# ------------------------------------------------------------------------ logged repairs


def good_log_values() -> pd.DataFrame:
    """samples x genes of the good matrix (already log scale)."""
    return pd.read_csv(GOOD_EXPR, sep="\t", index_col=0).T


def run_prepare_ok(tmp_path: Path, expr: str, *extra: str):
    import anndata as ad

    out = tmp_path / "prepared.h5ad"
    proc = cli(*prepare_args(expr, GOOD_SHEET, *extra), "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and " ERROR " not in proc.stderr
    adata = ad.read_h5ad(out)
    assert list(adata.obs_names) == SAMPLES
    leftovers = {p.name for p in tmp_path.iterdir()} - {"prepared.h5ad", "prepared.run_info.json"}
    assert not leftovers, leftovers  # no temporary files
    return adata, proc.stderr


def assert_log_equals_good(adata, genes=GENES):
    good = good_log_values()
    np.testing.assert_allclose(adata.layers["log"], good.loc[SAMPLES, list(genes)].to_numpy())


@pytest.mark.parametrize(
    ("expr", "logged"),
    [
        ("bom_crlf.tsv", None),  # transparent: BOM stripped, CRLF normalised
        ("utf16.tsv", "UTF-16 text (Excel 'Unicode Text' export) converted to UTF-8"),
        ("comma_in_tsv.tsv", "extension .tsv but the content is comma-separated"),
    ],
)
def test_encoding_and_delimiter_quirks_are_read_transparently(tmp_path, expr, logged):
    adata, log = run_prepare_ok(tmp_path, expr)
    assert list(adata.var_names) == GENES
    assert_log_equals_good(adata)
    if logged:
        assert logged in log
    assert "\ufeff" not in "".join(adata.var_names) + "".join(adata.obs_names)


def test_excel_dates_restored_and_logged(tmp_path):
    adata, log = run_prepare_ok(tmp_path, "excel_dates.tsv")
    repairs = {"1-Mar": "MARCHF1", "7-Sep": "SEPTIN7", "2019-09-02": "SEPTIN2", "Dec-01": "DELEC1"}
    for mangled, fixed in repairs.items():
        assert f"gene symbol {mangled!r} looks Excel-mangled; restored to {fixed}" in log
    assert list(adata.var_names) == [
        "TP53",
        "MARCHF1",
        "SEPTIN7",
        "ALB",
        "SEPTIN2",
        "GPC3",
        "DELEC1",
        "CYP3A4",
    ]
    assert dict(adata.uns["prepare"]["excel_repairs"]) == repairs
    good = good_log_values()
    np.testing.assert_allclose(adata[:, "SEPTIN7"].layers["log"].ravel(), good.loc[SAMPLES, "EGFR"])


def test_duplicated_genes_aggregated_and_logged(tmp_path):
    adata, log = run_prepare_ok(tmp_path, "duplicated_genes.tsv")
    assert "1 duplicated gene symbols (1 extra rows) aggregated with rule 'most_variable'" in log
    assert list(adata.var_names) == ["TP53", "MYC", "EGFR", "ALB", "GPC3", "APOA1", "CYP3A4"]
    raw = pd.read_csv(BAD / "duplicated_genes.tsv", sep="\t").set_index("gene")
    rows = raw.loc["TP53"].to_numpy(dtype=float)
    # the more variable row on the TRAIN samples (test samples never choose a gene)
    train = raw.columns.get_indexer(adata.obs_names[adata.obs["split"] == "train"])
    expected = rows[int(np.argmax(rows[:, train].var(axis=1)))][raw.columns.get_indexer(adata.obs_names)]
    np.testing.assert_allclose(adata[:, "TP53"].layers["log"].ravel(), expected)
    assert adata.uns["prepare"]["n_duplicate_symbols"] == 1


def test_nan_cells_drop_gene(tmp_path):
    adata, log = run_prepare_ok(tmp_path, "nan_cells.tsv")  # default --nan drop_gene
    assert "3 NaN values in 3 genes: genes dropped" in log
    kept = [g for g in GENES if g not in ("MYC", "EGFR", "ALB")]
    assert list(adata.var_names) == kept
    assert_log_equals_good(adata, kept)


def test_nan_cells_impute_train_median(tmp_path):
    adata, log = run_prepare_ok(tmp_path, "nan_cells.tsv", "--nan", "impute_median")
    assert "3 NaN values in 3 genes: 3 imputed with the train median" in log
    assert list(adata.var_names) == GENES
    good = good_log_values().loc[SAMPLES, GENES]
    train = (adata.obs["split"] == "train").to_numpy()
    for gene, sample in [("MYC", "S04"), ("EGFR", "S08"), ("ALB", "S01")]:  # NA, empty, NaN
        raw = good[gene].copy()
        raw[sample] = np.nan
        expected = np.nanmedian(raw.to_numpy()[train])
        assert adata[sample, gene].layers["log"][0, 0] == pytest.approx(expected)
    assert not np.isnan(adata.X).any()


def test_gmt_empty_sets_skipped_and_logged(tmp_path):
    out = tmp_path / "enrichment.tsv"
    proc = cli(*enrichment_args("gmt_empty_sets.gmt"), "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "skipped 2 gene sets without genes" in proc.stderr
    table = pd.read_csv(out, sep="\t")
    assert sorted(table["term"]) == ["LIVER", "PROLIF"]


# ------------------------------------------------------------------- workflow config


def test_bad_config_is_rejected_by_the_schema_naming_the_key(tmp_path):
    if shutil.which("snakemake") is None:
        pytest.skip("snakemake not installed")
    workdir = tmp_path / "wd"
    shutil.copytree(REPO / ".test", workdir)
    for config, names in [
        (
            "config_unknown_key.yaml",
            ("min_sample_per_class", "Additional properties are not allowed"),
        ),
        ("config_wrong_type.yaml", ("'seed'", "'zero' is not of type 'integer'")),
    ]:
        proc = subprocess.run(
            ["snakemake", "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
             "--directory", str(workdir), "--configfile", str(BAD / config)],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, output
        for name in names:
            assert name in output, (config, name, output[-2000:])
        assert not (workdir / "results").exists()


# ---------------------------------------------------------------------------- corpus


def test_readme_lists_every_corpus_file():
    readme = (BAD / "README.md").read_text()
    files = sorted(p.name for p in BAD.iterdir() if p.is_file() and p.name not in ("README.md",))
    missing = [f for f in files if f"`{f}`" not in readme]
    assert not missing, f"not documented in {BAD / 'README.md'}: {missing}"
    used = {
        Path(str(a)).name for c in ERRORS.values() for a in c.args if str(a).startswith(str(BAD))
    }
    assert used <= set(files)
