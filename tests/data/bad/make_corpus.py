"""Regenerate the malformed-input corpus in this directory (deterministic).

    python tests/data/bad/make_corpus.py

The files are committed; this script documents exactly how each one was made.
Every case is listed in README.md and exercised by tests/cli/test_bad_inputs.py.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

GENES = ["TP53", "MYC", "EGFR", "ALB", "AFP", "GPC3", "APOA1", "CYP3A4"]
SAMPLES = [f"S{i:02d}" for i in range(1, 13)]
PATIENTS = [f"P{i:02d}" for i in range(1, 13)]
LABELS = ["normal", "tumor"] * 6


def values(seed: int = 0) -> np.ndarray:
    """genes x samples, log2-like in [2, 12], 2 decimals."""
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(2.0, 12.0, size=(len(GENES), len(SAMPLES))), 2)


def table(header: list[str], rows: list[list[object]], sep: str = "\t", eol: str = "\n") -> str:
    return "".join(sep.join(map(str, r)) + eol for r in [header, *rows])


def expression(
    genes=GENES, samples=SAMPLES, x=None, sep="\t", eol="\n", fmt=lambda v: f"{v:g}"
) -> str:
    x = values() if x is None else x
    rows = [
        [g, *(fmt(v) if isinstance(v, float) else v for v in row)]
        for g, row in zip(genes, x, strict=True)
    ]
    return table(["gene", *samples], rows, sep=sep, eol=eol)


def sheet(
    samples=SAMPLES, labels=LABELS, patients=PATIENTS, cols=("aliquot_barcode", "label", "patient")
) -> str:
    cols_data = {"aliquot_barcode": samples, "label": labels, "patient": patients}
    rows = [[cols_data[c][i] for c in cols] for i in range(len(samples))]
    return table(list(cols), rows)


def write(name: str, content: str | bytes) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    (HERE / name).write_bytes(data)


def main() -> None:
    good = expression()
    write("good_expression.tsv", good)
    write("good_samples.tsv", sheet())

    # --- expression matrix cases -------------------------------------------------------
    write("empty.tsv", "")
    write("header_only.tsv", good.splitlines(keepends=True)[0])
    write("bom_crlf.tsv", "\ufeff" + expression(eol="\r\n"))
    write("comma_in_tsv.tsv", expression(sep=","))
    excel = ["TP53", "1-Mar", "7-Sep", "ALB", "2019-09-02", "GPC3", "Dec-01", "CYP3A4"]
    write("excel_dates.tsv", expression(genes=excel))
    write(
        "duplicated_genes.tsv",
        expression(genes=["TP53", "MYC", "EGFR", "ALB", "TP53", "GPC3", "APOA1", "CYP3A4"]),
    )
    write("duplicated_samples.tsv", expression(samples=[*SAMPLES[:5], "S05", *SAMPLES[6:]]))
    x = values().astype(object)
    x[1, 3], x[2, 7], x[3, 0] = "NA", "", "NaN"
    write("nan_cells.tsv", expression(x=x))
    x = values().astype(object)
    x[4, 2] = "inf"
    write("inf.tsv", expression(x=x))
    lin = np.round(2.0 ** values() - 1.0, 1).astype(object)
    lin[5, 9] = -5.0
    write("negative_linear.tsv", expression(x=lin))
    x = values().astype(object)
    x[6, 10] = "n.d."
    write("string_in_numeric.tsv", expression(x=x))
    write(
        "transposed.tsv",
        table(
            ["sample", *GENES],
            [[s, *(f"{v:g}" for v in col)] for s, col in zip(SAMPLES, values().T, strict=True)],
        ),
    )
    gz = gzip.compress(good.encode(), mtime=0)
    write("truncated.tsv.gz", gz[: len(gz) // 2])
    lines = good.splitlines(keepends=True)
    lines[4] = "\t".join(lines[4].rstrip("\n").split("\t")[:-2]) + "\n"
    write("ragged_row.tsv", "".join(lines))
    write("utf16.tsv", expression(eol="\r\n").encode("utf-16"))
    write(
        "semicolon_decimal_comma.csv",
        expression(sep=";", fmt=lambda v: f"{v:.2f}".replace(".", ",")),
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # the skeleton of an .xlsx workbook
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    write("xlsx_renamed.tsv", buf.getvalue())
    write("not_hdf5.h5ad", good)  # a TSV renamed .h5ad

    # --- sample sheet cases -----------------------------------------------------------
    write("sheet_missing_sample.tsv", sheet(SAMPLES[:-1], LABELS[:-1], PATIENTS[:-1]))
    write(
        "sheet_extra_sample.tsv", sheet([*SAMPLES, "S13"], [*LABELS, "tumor"], [*PATIENTS, "P13"])
    )
    write("sheet_typo_class.tsv", sheet(labels=[*LABELS[:-1], "tumour"]))
    write("sheet_single_class.tsv", sheet(labels=["tumor"] * 12))
    write("sheet_one_sample_class.tsv", sheet(labels=["normal"] + ["tumor"] * 11))
    write("sheet_no_label_col.tsv", sheet(cols=("aliquot_barcode", "patient")))
    write("sheet_case_labels.tsv", sheet(labels=["normal", "Tumor", "normal", "tumor"] * 3))
    write("sheet_duplicated_sample.tsv", sheet([*SAMPLES[:-1], "S11"]))

    # --- gene set libraries (mpsomics enrichment) -------------------------------------
    sets = {
        "LIVER": GENES[3:8],
        "PROLIF": ["TP53", "MYC", "EGFR", "AFP", "GPC3"],
    }
    valid = "".join(f"{k}\tdescription\t" + "\t".join(v) + "\n" for k, v in sets.items())
    write("genes.txt", "".join(g + "\n" for g in GENES))
    write(
        "gmt_space_separated.gmt", valid.splitlines(keepends=True)[0] + "BROKEN na ALB AFP GPC3\n"
    )
    write("gmt_empty_sets.gmt", valid + "EMPTY_A\tno genes\t\n" + "EMPTY_B\tno genes\t\t\n")
    write("gmt_all_empty.gmt", "EMPTY_A\tdesc\t\n" + "EMPTY_B\tdesc\t\t\n")
    write("gmt_duplicated_term.gmt", valid + "LIVER\tagain\tALB\tAFP\n")

    # --- a corrupt model for mpsomics observe -----------------------------------------
    buf = io.BytesIO()
    np.savez(buf, site_0=np.ones((1, 2, 2)), site_1=np.ones((2, 2, 1)), genes=np.array(["A", "B"]))
    write("model_truncated.npz", buf.getvalue()[:200])

    # --- Snakemake configs (schema) ---------------------------------------------------
    base = (HERE.parents[2] / ".test" / "config.yaml").read_text()
    write(
        "config_unknown_key.yaml",
        base.replace(
            "  test_fraction: 0.25\n", "  test_fraction: 0.25\n  min_sample_per_class: 3\n"
        ),
    )
    write("config_wrong_type.yaml", base.replace("seed: 0\n", "seed: zero\n"))


if __name__ == "__main__":
    main()
