"""GMT reader: accepted quirks and the errors users get for broken files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mpsomics.core.errors import InputError
from mpsomics.core.gmt import read_gmt

GENESETS = Path(__file__).resolve().parents[3] / "data" / "genesets"


def _write(tmp_path: Path, text: str, name: str = "lib.gmt") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_sets_trailing_tabs_duplicates_and_comments(tmp_path):
    p = _write(
        tmp_path,
        "# a comment\n"
        "SET_A\thttp://x\tG1\tG2\tG3\t\n"  # Enrichr-style trailing tab
        "\n"
        "SET_B\t\tG2\tG4\tG2\r\n",  # empty description, repeated gene, CRLF
    )
    lib = read_gmt(p, use_cache=False)
    assert lib.sets == {"SET_A": ("G1", "G2", "G3"), "SET_B": ("G2", "G4")}
    assert lib.n_empty_skipped == 0


def test_empty_sets_are_skipped_with_one_warning(tmp_path, caplog):
    p = _write(tmp_path, "A\td\tG1\tG2\nEMPTY1\td\t\t\nEMPTY2\td\t\n")
    with caplog.at_level(logging.WARNING, logger="mpsomics.core.gmt"):
        lib = read_gmt(p, use_cache=False)
    assert list(lib.sets) == ["A"]
    assert lib.n_empty_skipped == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 2" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A\td\tG1\nB G1 G2 G3\n", "line 2"),  # space-separated line
        ("A\td\tG1\nB\tonly-two-fields\n", "at least 3 tab-separated fields"),
        ("A\td\tG1\nB\td\tG2\nA\td\tG3\n", "duplicated term name 'A' (first defined on line 1)"),
        ("\td\tG1\n", "line 1: empty term name"),
        ("E\td\t\n", "no gene set with at least one gene"),
        ("", "empty file"),
    ],
)
def test_invalid_files_raise_one_line_error_naming_file_and_line(tmp_path, text, fragment):
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        read_gmt(p, use_cache=False)
    msg = str(exc.value)
    assert str(p) in msg and fragment in msg and "\n" not in msg


def test_space_separated_file_gets_a_hint(tmp_path):
    p = _write(tmp_path, "SET_A desc G1 G2 G3\n")
    with pytest.raises(InputError, match="space-separated; GMT needs tabs"):
        read_gmt(p, use_cache=False)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):  # the one missing-file rule of core.readers
        read_gmt(tmp_path / "nope.gmt")
    p = tmp_path / "bin.gmt"
    p.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        read_gmt(p, use_cache=False)


def test_cache_returns_same_object_until_file_changes(tmp_path):
    p = _write(tmp_path, "A\td\tG1\tG2\n")
    a = read_gmt(p)
    assert read_gmt(p) is a
    p.write_text("A\td\tG1\tG2\tG3\tG4\n")  # different size -> new cache key
    assert read_gmt(p).sets["A"] == ("G1", "G2", "G3", "G4")


@pytest.mark.parametrize(
    ("name", "n_sets"),
    [
        ("msigdb_h.all.v7.0.symbols.gmt", 50),
        ("msigdb_c2.cp.reactome.v6.0.symbols.gmt", 674),
        ("wikipathways-20220610-gmt-Homo_sapiens.symbols.gmt", 746),
    ],
)
def test_bundled_libraries_parse(name, n_sets):
    lib = read_gmt(GENESETS / name)
    assert len(lib) == n_sets
    assert all(len(g) > 0 for g in lib.sets.values())
