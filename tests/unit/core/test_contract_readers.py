"""The one reader per file contract (:mod:`mpsomics.core.readers`, docs/outputs.md).

Each reader's rules (encodings, comments, duplicates, missing files, pipes) and, at
the end, that every stage reading such a file goes through it: a BOM + CRLF file
works everywhere, a Latin-1 file fails everywhere with the same message.
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

from mpsomics.cli import main
from mpsomics.core.errors import InputError
from mpsomics.core.gmt import read_gmt
from mpsomics.core.readers import (
    read_gene_list,
    read_prepared,
    read_subcommunities,
    read_tsv,
    subcommunity_genes,
)

anndata = pytest.importorskip("anndata")

BOM = "\ufeff"


def bom_crlf(path: Path, text: str) -> Path:
    """Write ``text`` as UTF-8 with a BOM and Windows line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((BOM + text.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8"))
    return path


def to_bom_crlf(path: Path) -> Path:
    return bom_crlf(path, path.read_text(encoding="utf-8"))


@contextlib.contextmanager
def fifo(tmp_path: Path, data: bytes, name: str = "pipe"):
    """A named pipe fed with ``data`` by a thread (like ``<(cat file)``)."""
    path = tmp_path / name
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


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")


# ------------------------------------------------------------------ shared text rules

#: (reader, valid content) for every text contract.
TEXT_READERS = {
    "gene_list": (read_gene_list, "TP53\nMYC\n"),
    "tsv": (lambda p: read_tsv(p, ("a",)), "a\tb\n1\tx\n"),
    "subcommunities": (read_subcommunities, "gene\tsubcommunity\tmethod\nTP53\tc01/paper1\tpaper\n"),
    "gmt": (lambda p: read_gmt(p, use_cache=False), "SET\tdesc\tTP53\tMYC\n"),
}


@pytest.mark.parametrize("name", list(TEXT_READERS))
def test_bom_and_crlf_are_transparent(tmp_path, name):
    reader, text = TEXT_READERS[name]
    (tmp_path / "plain.txt").write_text(text)
    expected = reader(tmp_path / "plain.txt")
    got = reader(bom_crlf(tmp_path / "bom.txt", text))
    if isinstance(got, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected)
        assert BOM not in "".join(map(str, got.columns))
    elif name == "gmt":
        assert got.sets == expected.sets and all(BOM not in t for t in got.sets)
    else:
        assert got == expected and BOM not in "".join(got)


@pytest.mark.parametrize("name", list(TEXT_READERS))
@pytest.mark.parametrize(
    ("encoding", "needle"),
    [("latin-1", "not UTF-8 text (byte"), ("utf-16", "not UTF-8 text (UTF-16")],
)
def test_latin1_and_utf16_are_input_errors_naming_the_file(tmp_path, name, encoding, needle):
    reader, text = TEXT_READERS[name]
    p = tmp_path / "bad.txt"
    p.write_bytes(text.replace("TP53", "TP53é").replace("1", "1é").encode(encoding))
    with pytest.raises(InputError) as exc:
        reader(p)
    assert str(exc.value).startswith(f"{p}: ") and needle in str(exc.value)


@pytest.mark.parametrize("name", list(TEXT_READERS))
def test_missing_file_is_an_input_error(tmp_path, name):
    reader, _ = TEXT_READERS[name]
    with pytest.raises(InputError, match="file not found"):
        reader(tmp_path / "nope.txt")


@needs_fifo
@pytest.mark.parametrize("name", list(TEXT_READERS))
def test_named_pipe_is_read(tmp_path, name):
    reader, text = TEXT_READERS[name]
    (tmp_path / "f.txt").write_text(text)
    expected = reader(tmp_path / "f.txt")
    with fifo(tmp_path, (BOM + text).encode()) as p:
        got = reader(p)
    if isinstance(got, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected)
    elif name == "gmt":
        assert got.sets == expected.sets
    else:
        assert got == expected


# ------------------------------------------------------------------------ gene list


def test_gene_list_comments_blank_lines_and_whitespace(tmp_path):
    p = bom_crlf(tmp_path / "g.txt", "# community c01\n\n  TP53  \n#MYC\nEGFR\n")
    assert read_gene_list(p) == ["TP53", "EGFR"]


def test_gene_list_duplicate_names_the_gene_and_lines(tmp_path):
    p = bom_crlf(tmp_path / "g.txt", "TP53\nMYC\nTP53\n")
    with pytest.raises(InputError, match=r"duplicated gene 'TP53' \(lines 1 and 3\)"):
        read_gene_list(p)


def test_gene_list_rejects_a_table_and_empty_lists(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("TP53\t1.5\n")
    with pytest.raises(InputError, match="line 1: 'TP53\\\\t1.5' contains whitespace"):
        read_gene_list(p)
    p.write_text("# only a comment\n")
    with pytest.raises(InputError, match="gene list is empty"):
        read_gene_list(p)
    assert read_gene_list(p, allow_empty=True) == []
    p.write_text("")
    assert read_gene_list(p, item="community id", allow_empty=True) == []


# ------------------------------------------------------------------------------ TSV


def test_tsv_numeric_integer_text_and_inference(tmp_path):
    p = bom_crlf(
        tmp_path / "t.tsv",
        "epoch\tlabel\tvalue\tflag\tnote\n0\tnormal\t0.5\tTrue\tx\n2\ttumor\tNA\tFalse\t\n\n",
    )
    df = read_tsv(p, ("epoch", "value"), integer=("epoch",), numeric=("value",), text=("label",))
    assert df["epoch"].dtype == np.int64 and list(df["epoch"]) == [0, 2]
    assert df["value"].iloc[0] == 0.5 and np.isnan(df["value"].iloc[1])
    assert list(df["label"]) == ["normal", "tumor"]
    assert df["flag"].dtype == bool
    assert df["note"].isna().iloc[1]
    all_text = read_tsv(p, text=True)
    assert list(all_text["note"]) == ["x", ""]


@pytest.mark.parametrize(
    ("content", "kwargs", "needle"),
    [
        ("", {}, "empty file"),
        ("a\tb\n", {"min_rows": 1}, "header but no data rows"),
        ("a\tb\n1\t2\n", {"required": ("a", "c")}, "missing column(s) c"),
        ("a\ta\n1\t2\n", {}, "duplicated column name(s) 'a'"),
        ("a\t\n1\t2\n", {}, "column 2 has no name"),
        ("a\tb\n1\t2\n3\n", {}, "line 3 has 1 fields but the header has 2"),
        ("a\tb\n1\tzero\n", {"numeric": ("b",)}, "column 'b': non-numeric value 'zero' (line 2)"),
        ("a\tb\n1\tinf\n", {"numeric": ("b",)}, "column 'b': infinite value 'inf' (line 2)"),
        ("a\tb\n1\t2.5\n", {"integer": ("b",)}, "column 'b': expected an integer, found '2.5'"),
        ("a\tb\n1\t\n", {"numeric": ("b",), "complete": ("b",)}, "column 'b': empty value (line 2)"),
        ("a\tb\n1\t\n", {"text": ("b",), "complete": ("b",)}, "column 'b': empty value (line 2)"),
    ],
)
def test_tsv_rules(tmp_path, content, kwargs, needle):
    p = tmp_path / "t.tsv"
    p.write_text(content)
    with pytest.raises(InputError) as exc:
        read_tsv(p, **kwargs)
    assert str(exc.value).startswith(f"{p}: ") and needle in str(exc.value), str(exc.value)


def test_tsv_integer_column_with_missing_cells_is_nullable(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("a\tb\n1\t\n2\t3\n")
    df = read_tsv(p, integer=("b",))
    assert str(df["b"].dtype) == "Int64" and df["b"].isna().iloc[0] and df["b"].iloc[1] == 3


# ------------------------------------------------------------------ subcommunities


def test_subcommunities_table_and_gene_mapping(tmp_path):
    p = bom_crlf(
        tmp_path / "s.tsv",
        "gene\tsubcommunity\tmethod\tdegree\nA\tc01/paper1\tpaper\t2\nB\tc01/paper1\tpaper\t1\n"
        "A\tc01/graph1\tgraph\t1\n",
    )
    df = read_subcommunities(p)
    assert list(df["method"]) == ["paper", "paper", "graph"] and df["degree"].dtype == np.int64
    assert subcommunity_genes(df) == {"c01/paper1": ["A", "B"], "c01/graph1": ["A"]}
    p.write_text("gene\tsubcommunity\tmethod\n")  # no subcommunity found
    assert read_subcommunities(p).empty and subcommunity_genes(read_subcommunities(p)) == {}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("gene\tsubcommunity\nA\tc01/p1\n", "missing column(s) method"),
        ("gene\tsubcommunity\tmethod\nA\tc01/p1\tpaper\nA\tc01/p1\tpaper\n", "duplicated gene 'A' in subcommunity 'c01/p1'"),
        ("gene\tsubcommunity\tmethod\n\tc01/p1\tpaper\n", "column 'gene': empty value (line 2)"),
    ],
)
def test_subcommunities_rules(tmp_path, content, needle):
    p = tmp_path / "s.tsv"
    p.write_text(content)
    with pytest.raises(InputError) as exc:
        read_subcommunities(p)
    assert needle in str(exc.value)


# ------------------------------------------------------------------------------ GMT


def test_gmt_bom_never_lands_in_a_term_name(tmp_path):
    p = bom_crlf(tmp_path / "l.gmt", "HALLMARK_X\tdesc\tA\tB\r\nHALLMARK_Y\tdesc\tC\n")
    assert list(read_gmt(p, use_cache=False).sets) == ["HALLMARK_X", "HALLMARK_Y"]


# ------------------------------------------------------------------- prepared .h5ad

GENES = [f"G{i}" for i in range(6)]


def make_prepared(n: int = 40, seed: int = 0, genes: list[str] = GENES) -> anndata.AnnData:
    """A small AnnData in the prepared contract, with a label signal on G1 and G4."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, len(genes)))
    y = (X[:, 1] + X[:, 4] > 1.0).astype(int)
    y[:2] = [0, 1]
    obs = pd.DataFrame(
        {
            "label": np.array(["normal", "tumor"])[y],
            "group": [f"p{i}" for i in range(n)],
            "split": np.where(np.arange(n) < 3 * n // 4, "train", "test"),
        },
        index=[f"s{i}" for i in range(n)],
    )
    adata = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes))
    adata.layers["log"] = 10.0 * X
    adata.uns["classes"] = ["normal", "tumor"]
    adata.uns["positive_label"] = "tumor"
    return adata


def test_prepared_valid_file_and_pipe(tmp_path):
    path = tmp_path / "e.h5ad"
    make_prepared().write_h5ad(path)
    a = read_prepared(path)
    assert list(a.var_names) == GENES and a.uns["classes"] == ["normal", "tumor"]
    assert a.uns["positive_label"] == "tumor"
    if hasattr(os, "mkfifo"):
        with fifo(tmp_path, path.read_bytes()) as p:
            b = read_prepared(p)
        np.testing.assert_array_equal(a.X, b.X)


def _break(adata, what):
    if what == "obs":
        del adata.obs["group"]
    elif what == "classes":
        adata.uns["classes"] = ["normal", "tumor", "other"]
    elif what == "positive":
        adata.uns["positive_label"] = "cancer"
    elif what == "label":
        adata.obs["label"] = adata.obs["label"].astype(str)
        adata.obs.iloc[0, adata.obs.columns.get_loc("label")] = "tumour"
    elif what == "split":
        adata.obs["split"] = "validation"
    elif what == "no_train":
        adata.obs["split"] = "test"
    elif what == "absent":
        adata.obs["label"] = "normal"
    elif what == "log":
        del adata.layers["log"]
    elif what == "nan":
        adata.X[3, 2] = np.nan
    elif what == "scale":
        adata.X[0, 0] = 7.0
    elif what == "dup":
        adata.var_names = ["G0", "G1", "G2", "G0", "G4", "G5"]
    return adata


@pytest.mark.parametrize(
    ("what", "needle"),
    [
        ("obs", "obs is missing column(s) group"),
        ("classes", "uns['classes'] must be two distinct class names"),
        ("positive", "uns['positive_label'] 'cancer' is not one of the classes"),
        ("label", "obs['label'] has values not in uns['classes']"),
        ("split", "obs['split'] must be 'train' or 'test'"),
        ("no_train", "no training samples"),
        ("absent", "class(es) absent from the training samples: tumor"),
        ("log", "layers['log'] (log2 expression) is missing"),
        ("nan", "X has NaN or infinite (non-finite) values for 1 gene(s): 'G2'"),
        ("scale", ".X values outside [0, 1]"),
        ("dup", "gene names (var_names) are not unique: 'G0'"),
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_prepared_rules(tmp_path, what, needle):
    import warnings

    path = tmp_path / "e.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _break(make_prepared(), what).write_h5ad(path)
    with pytest.raises(InputError) as exc:
        read_prepared(path)
    assert str(exc.value).startswith(f"{path}: ") and needle in str(exc.value), str(exc.value)


def test_prepared_missing_and_not_hdf5(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_prepared(tmp_path / "nope.h5ad")
    p = tmp_path / "x.h5ad"
    p.write_text("gene\tS1\n")
    with pytest.raises(InputError, match="cannot read as AnnData .h5ad"):
        read_prepared(p)


# ------------------------------------------------- every stage uses the one reader


def test_every_stage_reads_bom_crlf_files(tmp_path):
    """train -> observe -> grokking -> subcommunities -> enrichment -> report, with
    every text file a stage reads rewritten as UTF-8 + BOM + CRLF (with comments in
    the gene lists) and the prepared AnnData read by communities-free stages."""
    h5 = tmp_path / "prepared" / "expression.h5ad"
    h5.parent.mkdir()
    make_prepared(n=48).write_h5ad(h5)
    res = tmp_path / "results"
    genes = bom_crlf(res / "communities" / "genes" / "c01.txt", "# c01, site order\n" + "\n".join(GENES) + "\n")
    bom_crlf(res / "communities" / "selected.txt", "c01\n")

    mps = res / "mps" / "c01"
    assert main(["train", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(mps),
                 "--epochs", "4", "--bond-dim", "2", "--observe-every", "1", "--seed", "0"]) == 0
    assert main(["observe", "--model", str(mps / "model.npz"), "--out-dir", str(res / "observables" / "c01"),
                 "--genes", str(genes), "--expression", str(h5)]) == 0

    for name in ("history.tsv", "entanglement_trajectory.tsv", "magnetization_trajectory.tsv"):
        to_bom_crlf(mps / name)
    grok = res / "grokking" / "c01.tsv"
    assert main(["grokking", "--history", str(mps / "history.tsv"), "--entanglement",
                 str(mps / "entanglement_trajectory.tsv"), "--community", "c01", "--out", str(grok)]) == 0
    to_bom_crlf(grok)
    subs = res / "subcommunities" / "c01.tsv"
    assert main(["subcommunities", "--correlations", str(mps / "correlations_trajectory.npz"),
                 "--magnetization", str(mps / "magnetization_trajectory.tsv"), "--grokking", str(grok),
                 "--community", "c01", "--out-dir", str(subs.parent), "--threshold", "0.0",
                 "--epoch-window", "100"]) == 0
    assert "gene\tsubcommunity\tmethod" in subs.read_text()
    bom_crlf(subs, "gene\tsubcommunity\tmethod\nG0\tc01/paper1\tpaper\nG1\tc01/paper1\tpaper\n")

    gmt = bom_crlf(tmp_path / "lib.gmt", "SET_A\tdesc\tG0\tG1\tG9\nSET_B\tdesc\tG2\tG3\n")
    enr = res / "enrichment" / "c01.tsv"
    assert main(["enrichment", "--genes", str(genes), "--subcommunities", str(subs), "--community", "c01",
                 "--expression", str(h5), "--library", f"lib={gmt}", "--min-set-size", "2",
                 "--out", str(enr)]) == 0
    table = pd.read_csv(enr, sep="\t")
    assert set(table["term"]) <= {"SET_A", "SET_B"} and "c01/paper1" in set(table["set"])
    to_bom_crlf(enr)

    out = tmp_path / "report" / "index.html"
    assert main(["report", "--selected", str(res / "communities" / "selected.txt"), "--genes", str(genes),
                 "--history", str(mps / "history.tsv"), "--entanglement", str(mps / "entanglement_trajectory.tsv"),
                 "--magnetization", str(mps / "magnetization_trajectory.tsv"),
                 "--correlations", str(mps / "correlations_trajectory.npz"), "--grokking", str(grok),
                 "--subcommunities", str(subs), "--enrichment", str(enr),
                 "--expression", str(h5), "--out-dir", str(out.parent)]) == 0
    html = out.read_text()
    assert "c01/paper1" in html and BOM not in html


@pytest.mark.parametrize(
    "stage",
    ["train", "observe", "enrichment-genes", "enrichment-subcommunities", "enrichment-background", "gmt"],
)
def test_every_stage_rejects_latin1_with_the_same_message(tmp_path, capsys, stage):
    h5 = tmp_path / "e.h5ad"
    make_prepared().write_h5ad(h5)
    good = tmp_path / "genes.txt"
    good.write_text("\n".join(GENES) + "\n")
    bad = tmp_path / "latin1.txt"
    subs = tmp_path / "subs.tsv"
    subs.write_text("gene\tsubcommunity\tmethod\nG0\tc/p1\tpaper\n")
    gmt = tmp_path / "l.gmt"
    gmt.write_text("S\td\tG0\tG1\n")
    if stage in ("enrichment-subcommunities",):
        bad.write_bytes("gene\tsubcommunity\tmethod\nG0é\tc/p1\tpaper\n".encode("latin-1"))
    elif stage == "gmt":
        bad.write_bytes("Sé\td\tG0\tG1\n".encode("latin-1"))
    else:
        bad.write_bytes("\n".join(GENES[:-1] + ["G5é"]).encode("latin-1"))
    enr = ["enrichment", "--community", "c", "--out", str(tmp_path / "o.tsv"), "--min-set-size", "1"]
    argv = {
        "train": ["train", "--expression", str(h5), "--genes", str(bad), "--out-dir", str(tmp_path / "m")],
        "observe": None,
        "enrichment-genes": enr + ["--genes", str(bad), "--background", str(good), "--library", f"l={gmt}"],
        "enrichment-subcommunities": enr + ["--genes", str(good), "--subcommunities", str(bad),
                                            "--background", str(good), "--library", f"l={gmt}"],
        "enrichment-background": enr + ["--genes", str(good), "--background", str(bad), "--library", f"l={gmt}"],
        "gmt": enr + ["--genes", str(good), "--background", str(good), "--library", f"l={bad}"],
    }[stage]
    if stage == "observe":
        assert main(["train", "--expression", str(h5), "--genes", str(good), "--out-dir", str(tmp_path / "m"),
                     "--epochs", "1", "--bond-dim", "2"]) == 0
        capsys.readouterr()
        argv = ["observe", "--model", str(tmp_path / "m" / "model.npz"), "--out-dir", str(tmp_path / "obs"),
                "--genes", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}: not UTF-8 text (byte" in err[0], err


@needs_fifo
def test_process_substitution_through_the_real_cli(tmp_path):
    """``<(...)`` for the gene list, background, GMT and prepared AnnData."""
    if shutil.which("bash") is None:
        pytest.skip("bash not installed")
    h5 = tmp_path / "e.h5ad"
    make_prepared().write_h5ad(h5)
    script = (
        f'"{sys.executable}" -m mpsomics enrichment --community c01 --min-set-size 2 '
        "--genes <(printf '\\xef\\xbb\\xbf# c01\\r\\nG0\\r\\nG1\\r\\nG2\\r\\n') "
        f"--expression <(cat '{h5}') "
        "--library lib=<(printf '\\xef\\xbb\\xbfSET_A\\td\\tG0\\tG1\\r\\n') "
        f"--out '{tmp_path / 'o.tsv'}'"
    )
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "o.tsv", sep="\t")
    assert list(table["term"]) == ["SET_A"] and table["genes"].iloc[0] == "G0;G1"
