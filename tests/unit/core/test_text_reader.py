"""The one text reader (:func:`mpsomics.core.readers.read_text`) and the readers built on it.

Properties: any gene list written as UTF-8, UTF-8 with a BOM, with LF / CRLF / CR line
endings, read through a file or a pipe, round-trips through ``read_gene_list``; bytes
that are not UTF-8 (and UTF-16/UTF-32 text) are always one :class:`InputError` naming
the file. Then the CLI cases of issue 15: train with a BOM + CRLF gene list and with a
pipe, enrichment keeping the first gene of a BOM list, a BOM GMT's first term, a Latin-1
gene list as one error line with exit code 2, and config JSON read by the report.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpsomics.cli import main
from mpsomics.core.errors import InputError
from mpsomics.core.gmt import read_gmt
from mpsomics.core.readers import read_gene_list, read_text, read_tsv

anndata = pytest.importorskip("anndata")

BOM = "\ufeff"
EOLS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@contextlib.contextmanager
def fifo(path: Path, data: bytes):
    """A named pipe at ``path`` fed with ``data`` by a thread (like ``<(printf ...)``)."""
    os.mkfifo(path)

    def feed():
        with open(path, "wb") as fh:  # blocks until the reader opens the pipe
            fh.write(data)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        yield path
    finally:
        t.join(timeout=5)
        path.unlink()


# ------------------------------------------------------------------ strategies

#: One gene-list entry: any printable text without whitespace (U+FEFF is not
#: whitespace to Python but is a BOM to every reader) and not a ``#`` comment.
entry = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\ufeff"),
    min_size=1,
    max_size=12,
).filter(lambda s: not s.startswith("#") and not any(c.isspace() for c in s))
entries = st.lists(entry, min_size=1, max_size=20, unique=True)


def encode(text: str, *, bom: bool, eol: str) -> bytes:
    return ((BOM if bom else "") + text.replace("\n", eol)).encode("utf-8")


# ------------------------------------------------------------------ properties


@SETTINGS
@given(genes=entries, bom=st.booleans(), eol=st.sampled_from(sorted(EOLS)), final_eol=st.booleans())
def test_gene_list_round_trips_in_any_utf8_form(tmp_path, genes, bom, eol, final_eol):
    p = tmp_path / "genes.txt"
    p.write_bytes(encode("\n".join(genes) + ("\n" if final_eol else ""), bom=bom, eol=EOLS[eol]))
    assert read_gene_list(p) == genes


@needs_fifo
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(genes=entries, bom=st.booleans(), eol=st.sampled_from(sorted(EOLS)))
def test_gene_list_round_trips_through_a_pipe(tmp_path, genes, bom, eol):
    with fifo(tmp_path / "pipe", encode("\n".join(genes) + "\n", bom=bom, eol=EOLS[eol])) as p:
        assert read_gene_list(p) == genes


@SETTINGS
@given(text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200),
       bom=st.booleans(), eol=st.sampled_from(sorted(EOLS)))
def test_read_text_normalises_any_utf8_text(tmp_path, text, bom, eol):
    """Any text comes back with LF line ends and without BOMs at line starts."""
    if text.startswith("PK\x03\x04"):
        return  # a zip archive's magic bytes
    p = tmp_path / "t.txt"
    p.write_bytes(encode(text, bom=bom, eol=EOLS[eol]))
    got = read_text(p, strict=True, allow_empty=True)
    expected = text.replace("\n", EOLS[eol]).replace("\r\n", "\n").replace("\r", "\n")
    expected = "\n".join(line.lstrip("\ufeff") for line in expected.split("\n"))
    assert got == (expected if expected.strip() else "")
    assert "\r" not in got


@SETTINGS
@given(genes=entries, encoding=st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32"]))
def test_utf16_and_utf32_gene_lists_are_one_input_error(tmp_path, genes, encoding):
    """Strict readers ask for UTF-8 (with or without a BOM: no silent garbage)."""
    p = tmp_path / "genes.txt"
    p.write_bytes("\n".join(genes + ["TP53"]).encode(encoding))
    with pytest.raises(InputError) as exc:
        read_gene_list(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: ") and "\n" not in msg
    assert "not UTF-8 text" in msg or "binary" in msg, msg


#: bytes that can never occur in UTF-8
invalid = st.sampled_from([b"\xc0", b"\xc1", b"\xf5", b"\xff", b"\xe9", b"\x80", b"\xed\xa0\x80"])


@SETTINGS
@given(genes=entries, at=st.integers(0, 10**6), bad=invalid, bom=st.booleans())
def test_undecodable_bytes_are_an_input_error_naming_file_byte_and_line(tmp_path, genes, at, bad, bom):
    body = ("\n".join(genes) + "\n").encode("utf-8")
    cut = at % (len(body) + 1)
    while 0 < cut < len(body) and (body[cut] & 0xC0) == 0x80:
        cut -= 1  # not inside a multi-byte character
    raw = (b"\xef\xbb\xbf" if bom else b"") + body[:cut] + bad + body[cut:]
    p = tmp_path / "genes.txt"
    p.write_bytes(raw)
    if bad == b"\xff" and raw.startswith(b"\xff\xfe"):
        return  # a UTF-16 BOM: covered above
    with pytest.raises(InputError) as exc:
        read_gene_list(p)
    msg = str(exc.value)
    offset = len(raw) - len(body) - len(bad) + cut
    line = raw.count(b"\n", 0, offset) + 1
    assert msg == (
        f"{p}: not UTF-8 text (byte 0x{bad[0]:02x} at offset {offset}, line {line}): save the gene list as UTF-8"
    )


# ------------------------------------------------------------------ unit cases


def test_bom_at_later_line_starts_is_dropped(tmp_path):
    """``cat a.txt b.txt`` of two BOM files: the second BOM is not part of a gene."""
    p = tmp_path / "g.txt"
    p.write_bytes(b"\xef\xbb\xbfTP53\r\nMYC\r\n\xef\xbb\xbfEGFR\r\n")
    assert read_gene_list(p) == ["TP53", "MYC", "EGFR"]
    gmt = tmp_path / "l.gmt"
    gmt.write_bytes(b"\xef\xbb\xbfA\td\tG0\r\n\xef\xbb\xbfB\td\tG1\r\n")
    assert list(read_gmt(gmt, use_cache=False).sets) == ["A", "B"]


def test_gmt_line_numbers_and_what_in_messages(tmp_path):
    gmt = tmp_path / "l.gmt"
    gmt.write_bytes("A\td\tG0\nB\xe9\td\tG1\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"line 2\): save the GMT gene set library as UTF-8"):
        read_gmt(gmt, use_cache=False)
    gmt.write_bytes(b"A\td\tG0\x0cB\nC\td\tG1\n")  # a form feed is not a line break
    assert list(read_gmt(gmt, use_cache=False).sets) == ["A", "C"]


def test_utf16_without_bom_and_binary_are_named(tmp_path):
    p = tmp_path / "g.txt"
    p.write_bytes("TP53\nMYC\nEGFR\n".encode("utf-16-le"))
    with pytest.raises(InputError, match="UTF-16 without byte-order mark.*gene list"):
        read_gene_list(p)
    p.write_bytes(b"TP53\x00\x01\x02")
    with pytest.raises(InputError, match=r"binary file \(NUL bytes\), expected a gene list"):
        read_gene_list(p)


def test_lenient_tables_still_convert_utf16_and_latin1(tmp_path, caplog):
    """prepare's user tables (read_table) keep the documented lenient rules."""
    p = tmp_path / "x.tsv"
    p.write_bytes("g\tS1\nCaf\xe9\t1\n".encode("latin-1"))
    with caplog.at_level("WARNING"):
        assert read_text(p) == "g\tS1\nCafé\t1\n"
    assert "byte 0xe9 at offset 8, line 2" in caplog.text
    p.write_bytes("g\tS1\r\nA\t1\r\n".encode("utf-16"))
    assert read_text(p) == "g\tS1\nA\t1\n"


def test_content_argument_parses_text_already_read(tmp_path):
    """A caller that sniffed a pipe passes its text on instead of reading it again."""
    p = tmp_path / "gone.txt"  # never opened
    assert read_gene_list(p, content="A\nB\n") == ["A", "B"]
    df = read_tsv(p, ("gene1",), text=True, content="gene1\tgene2\nA\tB\n")
    assert df.to_dict("list") == {"gene1": ["A"], "gene2": ["B"]}


@needs_fifo
def test_dev_fd_is_read(tmp_path):
    r, w = os.pipe()
    os.write(w, b"\xef\xbb\xbfA\r\nB\r\n")
    os.close(w)
    try:
        assert read_gene_list(f"/dev/fd/{r}") == ["A", "B"]
    finally:
        os.close(r)


def test_config_json_bom_crlf_latin1_and_missing(tmp_path):
    from mpsomics.report.html import read_config

    p = tmp_path / "config.json"
    p.write_bytes(b'\xef\xbb\xbf{"train":\r\n {"epochs": 5}}\r\n')
    assert read_config(p) == {"train.epochs": "5"}
    assert read_config('\ufeff{"a": 1}') == {"a": "1"}
    p.write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(InputError, match=r"config.json: not UTF-8 text \(byte 0xe9 at offset 13, line 1\)"):
        read_config(p)
    p.write_text('{"a": 1')
    with pytest.raises(InputError, match="config.json: not valid JSON"):
        read_config(p)
    with pytest.raises(InputError, match="nope.json: file not found"):
        read_config(tmp_path / "nope.json")


# ------------------------------------------------------------------ CLI (issue 15)

GENES = [f"G{i}" for i in range(6)]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    n = 40
    X = rng.random((n, len(GENES)))
    y = (X[:, 1] + X[:, 4] > 1.0).astype(int)
    y[:2] = [0, 1]
    obs = pd.DataFrame(
        {
            "label": np.array(["normal", "tumor"])[y],
            "group": [f"p{i}" for i in range(n)],
            "split": np.where(np.arange(n) < 30, "train", "test"),
        },
        index=[f"s{i}" for i in range(n)],
    )
    adata = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame(index=GENES))
    adata.layers["log"] = 10.0 * X
    adata.uns["classes"] = ["normal", "tumor"]
    adata.uns["positive_label"] = "tumor"
    path = tmp_path_factory.mktemp("prepared") / "e.h5ad"
    adata.write_h5ad(path)
    return path


def train_argv(h5: Path, genes: str | Path, out: Path) -> list[str]:
    return ["train", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(out),
            "--epochs", "1", "--bond-dim", "2", "--seed", "0"]  # fmt: skip


def test_train_accepts_a_bom_crlf_gene_list(tmp_path, prepared):
    genes = tmp_path / "genes.txt"
    genes.write_bytes(("\ufeff" + "\r\n".join(GENES[:3]) + "\r\n").encode())
    assert main(train_argv(prepared, genes, tmp_path / "m")) == 0
    from mpsomics.mps.state import load_model

    assert list(load_model(tmp_path / "m" / "model.npz").genes) == GENES[:3]


def bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"})


@needs_fifo
def test_train_accepts_a_gene_list_pipe(tmp_path, prepared):
    if shutil.which("bash") is None:
        pytest.skip("bash not installed")
    out = tmp_path / "m"
    proc = bash(f"\"{sys.executable}\" -m mpsomics train --expression '{prepared}' "
                f"--genes <(printf '\\xef\\xbb\\xbfG0\\r\\nG1\\r\\n') --out-dir '{out}' --epochs 1 --bond-dim 2")
    assert proc.returncode == 0, proc.stderr
    assert (out / "model.npz").is_file()


def test_latin1_gene_list_is_one_error_line_exit_2(tmp_path, prepared):
    genes = tmp_path / "latin1.txt"
    genes.write_bytes("G0\nG1\nG\xe9\n".encode("latin-1"))
    proc = subprocess.run([sys.executable, "-m", "mpsomics", *train_argv(prepared, genes, tmp_path / "m")],
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert err == [f"mpsomics train: error: {genes}: not UTF-8 text (byte 0xe9 at offset 7, line 3): "
                   "save the gene list as UTF-8"], err
    assert not (tmp_path / "m").exists()


def test_enrichment_keeps_the_first_gene_of_a_bom_list_and_clean_bom_gmt_terms(tmp_path):
    genes = tmp_path / "genes.txt"
    genes.write_bytes(b"\xef\xbb\xbfG0\r\nG1\r\n")
    background = tmp_path / "bg.txt"
    background.write_bytes(("\ufeff" + "\r\n".join(GENES) + "\r\n").encode())
    gmt = tmp_path / "lib.gmt"
    gmt.write_bytes(b"\xef\xbb\xbfSET_A\tdesc\tG0\tG1\r\nSET_B\tdesc\tG2\tG3\r\n")
    out = tmp_path / "o.tsv"
    assert main(["enrichment", "--genes", str(genes), "--community", "c01", "--background", str(background),
                 "--library", f"lib={gmt}", "--min-set-size", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t")
    row = table.set_index("term").loc["SET_A"]
    assert row["genes"] == "G0;G1"  # G0, the first gene after the BOM, is found
    assert all(BOM not in str(t) for t in table["term"])
    assert list(read_gmt(gmt, use_cache=False).sets)[0] == "SET_A"
