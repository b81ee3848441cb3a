"""Robust table readers: messy real-world files either parse correctly or fail clearly."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mpsomics.core.errors import InputError
from mpsomics.core.readers import excel_symbol_repair, read_table, repair_excel_gene_symbols
from mpsomics.omics.prepare import read_expression

GOOD = "symbol\tS1\tS2\tS3\nA\t1.5\t2\t3\nB\t4\t5\t6.25\n"


def _write(tmp_path, name, content: str | bytes):
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


def _expect(path, match):
    with pytest.raises(InputError, match=match) as exc:
        read_expression(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    return str(exc.value)


def _check_good(df):
    assert list(df.index) == ["S1", "S2", "S3"]
    assert list(df.columns) == ["A", "B"]
    np.testing.assert_allclose(df.to_numpy(), [[1.5, 4], [2, 5], [3, 6.25]])


def test_plain(tmp_path):
    _check_good(read_expression(_write(tmp_path, "x.tsv", GOOD)))


def test_bom_and_windows_line_endings(tmp_path):
    content = b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode()
    _check_good(read_expression(_write(tmp_path, "x.tsv", content)))


def test_old_mac_line_endings(tmp_path):
    _check_good(read_expression(_write(tmp_path, "x.tsv", GOOD.replace("\n", "\r"))))


def test_gzip_detected_by_content(tmp_path):
    _check_good(read_expression(_write(tmp_path, "x.tsv.gz", gzip.compress(GOOD.encode()))))
    _check_good(read_expression(_write(tmp_path, "y.tsv", gzip.compress(GOOD.encode()))))


def test_plain_text_with_gz_extension(tmp_path, caplog):
    _check_good(read_expression(_write(tmp_path, "x.tsv.gz", GOOD)))
    assert "not gzip-compressed" in caplog.text


def test_utf16_excel_unicode_text(tmp_path):
    _check_good(
        read_expression(_write(tmp_path, "x.txt", GOOD.replace("\n", "\r\n").encode("utf-16")))
    )


def test_comma_separated_tsv_is_sniffed(tmp_path, caplog):
    _check_good(read_expression(_write(tmp_path, "x.tsv", GOOD.replace("\t", ","))))
    assert "comma-separated" in caplog.text
    _check_good(read_expression(_write(tmp_path, "x.csv", GOOD.replace("\t", ";"))))


def test_r_style_header_and_trailing_delimiter(tmp_path):
    r_style = "S1\tS2\tS3\nA\t1.5\t2\t3\nB\t4\t5\t6.25\n"
    _check_good(read_expression(_write(tmp_path, "r.tsv", r_style)))
    trailing = "".join(line + "\t\n" for line in GOOD.splitlines())
    _check_good(read_expression(_write(tmp_path, "t.tsv", trailing)))
    trailing_body = (
        GOOD.splitlines()[0] + "\n" + "".join(line + "\t\n" for line in GOOD.splitlines()[1:])
    )
    _check_good(read_expression(_write(tmp_path, "t2.tsv", trailing_body)))


def test_trailing_delimiter_variants(tmp_path):
    lines = GOOD.splitlines()
    header_only = lines[0] + "\t\n" + "\n".join(lines[1:]) + "\n"
    _check_good(read_expression(_write(tmp_path, "h.tsv", header_only)))
    r_trailing = "S1\tS2\tS3\nA\t1.5\t2\t3\t\nB\t4\t5\t6.25\t\n"
    _check_good(read_expression(_write(tmp_path, "r.tsv", r_trailing)))
    r_both = "S1\tS2\tS3\t\nA\t1.5\t2\t3\t\nB\t4\t5\t6.25\t\n"
    _check_good(read_expression(_write(tmp_path, "rb.tsv", r_both)))
    # an unnamed sample column with data is an error, never silently shifted
    _expect(_write(tmp_path, "u.tsv", "symbol\tS1\t\nA\t1\t2\n"), "empty sample id")


def test_empty_ids(tmp_path, caplog):
    df = read_expression(_write(tmp_path, "x.tsv", GOOD + "\t7\t8\t9\n"))
    _check_good(df)
    assert "dropping 1 gene(s) with an empty symbol" in caplog.text
    with pytest.raises(InputError, match="empty sample id \\(sample number 2 of 2\\)"):
        read_expression(
            _write(tmp_path, "s.tsv", "sample\tA\nS1\t1\n\t2\n"), orientation="samples-x-genes"
        )


def test_blank_lines_are_skipped(tmp_path):
    _check_good(
        read_expression(_write(tmp_path, "x.tsv", "\n" + GOOD.replace("\nB", "\n\nB") + "\n\n"))
    )


def test_na_and_empty_cells_are_nan(tmp_path):
    df = read_expression(
        _write(tmp_path, "x.tsv", "symbol\tS1\tS2\tS3\nNA\t\t2\tNA\nB\tNaN\t#N/A\t6\n")
    )
    assert list(df.columns) == ["NA", "B"]  # an identifier "NA" is text, not missing
    assert int(df.isna().sum().sum()) == 4


def test_quoted_fields(tmp_path):
    _check_good(
        read_expression(
            _write(tmp_path, "x.csv", '"symbol","S1","S2","S3"\n"A",1.5,2,3\n"B",4,5,6.25\n')
        )
    )


def test_latin1_fallback(tmp_path):
    df = read_expression(_write(tmp_path, "x.tsv", "symbol\tS1\nCaf\xe9\t1\n".encode("latin-1")))
    assert list(df.columns) == ["Caf\xe9"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "file is empty"),
        ("\n \n", "file is empty"),
        ("symbol\tS1\tS2\n", "header but no data rows"),
        ("symbol\nA\nB\n", "single column"),
        ("symbol\tS1\tS2\nA\t1\t2\nB\t3\t4\t5\t6\n", "line 3 has 5 fields but the header has 3"),
        (
            "symbol\tS1\tS2\nA\t1\tabc\n",
            "non-numeric value 'abc' for gene 'A', sample 'S2' \\(line 2\\)",
        ),
        ("symbol;S1;S2\nA;1,5;2\n", "'1,5'.*decimal comma"),
        ("symbol\tS1\tS2\nA\t1\t2\nB\tinf\t2\n", "infinite value inf for gene 'B', sample 'S1'"),
        ("symbol\tS1\tS2\nA\t1\t-Inf\n", "infinite value -inf for gene 'A', sample 'S2'"),
    ],
)
def test_bad_text(tmp_path, content, match):
    _expect(_write(tmp_path, "bad.tsv", content), match)


def test_truncated_gzip(tmp_path):
    big = GOOD + "".join(f"G{i}\t{i}\t{i + 1}\t{i + 2}\n" for i in range(2000))
    blob = gzip.compress(big.encode())
    _expect(_write(tmp_path, "x.tsv.gz", blob[: len(blob) // 2]), "truncated or corrupt gzip")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"PK\x03\x04rest-of-zip", "Excel/zip"),
        (b"\x89HDF\r\n\x1a\nxxxx", "HDF5"),
        (b"abc\x00\x01\x02", "binary"),
    ],
)
def test_binary_files(tmp_path, content, match):
    _expect(_write(tmp_path, "x.tsv", content), match)


def test_missing_file_and_directory(tmp_path):
    _expect(tmp_path / "nope.tsv", "file not found")
    (tmp_path / "d.tsv").mkdir()
    _expect(tmp_path / "d.tsv", "directory")


def test_read_table_text_and_missing_id_column(tmp_path):
    p = _write(tmp_path, "s.tsv", " id \tlabel\n a \t tumor \nb\tNA\n")
    df = read_table(p)
    assert list(df.columns) == ["id", "label"]
    assert df.to_dict("list") == {"id": ["a", "b"], "label": ["tumor", "NA"]}
    with pytest.raises(InputError, match="column 'gene' not found; columns are 'id', 'label'"):
        read_table(p, numeric_except="gene")


@pytest.mark.parametrize(
    ("mangled", "fixed"),
    [
        ("1-Mar", "MARCHF1"),
        ("01-mar", "MARCHF1"),
        ("Mar-1", "MARCHF1"),
        ("MAR-11", "MARCHF11"),
        ("2-Sep", "SEPTIN2"),
        ("Sep-14", "SEPTIN14"),
        ("1-Dec", "DELEC1"),
        ("1-Mar-2019", "MARCHF1"),
        ("2019-03-01", "MARCHF1"),
        ("2019-09-07 00:00:00", "SEPTIN7"),
        ("2021-12-01", "DELEC1"),
    ],
)
def test_excel_repair(mangled, fixed):
    assert excel_symbol_repair(mangled) == fixed


@pytest.mark.parametrize(
    "symbol", ["TP53", "MARCHF1", "12-Mar", "2-Dec", "Sep-15", "2019-04-01", "3/1/2019", "0-Sep"]
)
def test_excel_repair_leaves_others(symbol):
    assert excel_symbol_repair(symbol) is None


def test_excel_repair_logged_and_applied(tmp_path, caplog):
    fixed, repairs = repair_excel_gene_symbols(["TP53", "1-Mar", "2-Sep"], "f.tsv")
    assert fixed == ["TP53", "MARCHF1", "SEPTIN2"]
    assert repairs == {"1-Mar": "MARCHF1", "2-Sep": "SEPTIN2"}
    assert caplog.text.count("Excel-mangled") == 2
    df = read_expression(_write(tmp_path, "x.tsv", "symbol\tS1\n1-Mar\t1\nTP53\t2\n"))
    assert list(df.columns) == ["MARCHF1", "TP53"]
    assert df.attrs["excel_repairs"] == {"1-Mar": "MARCHF1"}


def test_orientation_and_gene_col(tmp_path):
    p = _write(tmp_path, "t.tsv", "sample\tA\tB\nS1\t1.5\t4\nS2\t2\t5\nS3\t3\t6.25\n")
    _check_good(read_expression(p, orientation="samples-x-genes"))
    p = _write(
        tmp_path, "g.tsv", "ensembl\tsymbol\tS1\tS2\tS3\nE1\tA\t1.5\t2\t3\nE2\tB\t4\t5\t6.25\n"
    )
    with pytest.raises(InputError, match="non-numeric value 'A' for gene 'E1', sample 'symbol'"):
        read_expression(p)
    df = read_expression(
        _write(tmp_path, "g3.tsv", "S1\tsymbol\tS2\tS3\n1.5\tA\t2\t3\n4\tB\t5\t6.25\n"),
        gene_col="symbol",
    )
    _check_good(df)
