"""Issue 14: counts, gene ids, input formats, clinical labels (``mpsomics prepare``).

Every format of the README's "Bring your own data" goes from a small file written here
through ``mpsomics prepare``; the bundled GSE77314 raw counts check the log2(CPM + 1) path
against a direct computation.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from helpers.formats import write_featurecounts, write_quant, write_series_matrix

from mpsomics.cli import main
from mpsomics.core.errors import InputError
from mpsomics.omics.prepare import detect_values
from mpsomics.omics.prepare.clinical import parse_classes
from mpsomics.omics.prepare.formats import as_paths, detect_format
from mpsomics.omics.prepare.geneids import detect_id_type, strip_version

ROOT = Path(__file__).resolve().parents[3]
GSE = ROOT / "data" / "gse77314"

N_PATIENTS, N_GENES = 16, 40


def run_ok(args, capsys):
    rc = main(args)
    assert rc == 0, capsys.readouterr().err
    return ad.read_h5ad(args[args.index("--out") + 1])


def run_err(args, capsys, *needles):
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert "\n" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture
def counts():
    """Integer counts, genes x samples, library sizes over a 20x range; symbols G00..; sheet."""
    rng = np.random.default_rng(1)
    samples = [f"S{i:02d}" for i in range(2 * N_PATIENTS)]
    label = ["normal", "tumor"] * N_PATIENTS
    patient = [f"P{i // 2:02d}" for i in range(2 * N_PATIENTS)]
    mean = rng.uniform(20, 500, size=(N_GENES, 1)) * np.ones((1, len(samples)))
    mean[:5, 1::2] *= 4  # informative genes
    depth = np.geomspace(1, 20, len(samples))
    rng.shuffle(depth)
    x = rng.poisson(mean * depth[None, :]).astype(int)
    genes = [f"G{i:02d}" for i in range(N_GENES)]
    table = pd.DataFrame(x, index=genes, columns=samples)
    sheet = pd.DataFrame({"sample": samples, "label": label, "patient": patient})
    return table, sheet


def log_cpm(table: pd.DataFrame) -> pd.DataFrame:
    """Samples x genes log2(CPM + 1), library size = column sums over every gene."""
    return np.log2(table / table.sum(axis=0) * 1e6 + 1).T


def sheet_file(tmp_path, sheet):
    path = tmp_path / "samples.tsv"
    sheet.to_csv(path, sep="\t", index=False)
    return str(path)


def common(out, *extra):
    return ["prepare", "--out", str(out), "--sample-col", "sample", "--min-expression", "0", *extra]


def check_log_cpm(adata, table):
    expect = log_cpm(table).loc[adata.obs_names, adata.var_names].to_numpy()
    np.testing.assert_allclose(adata.layers["log"], expect, rtol=0, atol=1e-9)
    assert adata.uns["prepare"]["scale_detected"] == "counts"
    assert adata.uns["prepare"]["normalization"] == "log2(CPM + 1)"


# ------------------------------------------------------------------------ GSE77314 (bundled)


def test_gse77314_raw_counts_give_log2_cpm_and_symbols(tmp_path, capsys):
    """Done-when check of issue 14: NCBI raw counts -> log2(CPM + 1) on all 39,376 genes' sums."""
    raw = GSE / "GSE77314_raw_counts_GRCh38.p13_NCBI.tsv.gz"
    out = tmp_path / "gse.h5ad"
    adata = run_ok(["prepare", "--expression", str(raw), "--samples", str(GSE / "GSE77314_labels.tsv"),
                    "--out", str(out), "--sample-col", "gsm", "--gene-ids", "auto"], capsys)
    info = adata.uns["prepare"]
    assert info["scale_detected"] == "counts" and info["n_genes_in"] == 39376
    m = info["gene_id_mapping"]
    assert (m["id_type"], m["n_ids"], m["n_mapped"], m["n_unmapped"]) == ("entrez", 39376, 37766, 1610)
    counts = pd.read_csv(raw, sep="\t", index_col=0)
    direct = np.log2(counts / counts.sum(axis=0) * 1e6 + 1)
    idmap = pd.read_csv(ROOT / "data/idmaps/entrez_to_symbol_orgHsEgDb_2022-09.tsv", sep="\t")
    symbol = dict(zip(idmap["entrez_id"], idmap["symbol"], strict=True))
    by_symbol = pd.Series([symbol.get(i) for i in counts.index], index=counts.index).dropna()
    unique = by_symbol[~by_symbol.duplicated(keep=False)]
    ids = pd.Series(unique.index, index=unique.to_numpy())
    genes = [g for g in adata.var_names if g in ids.index]
    assert len(genes) >= len(adata.var_names) - 1
    expect = direct.loc[ids[genes].to_numpy(), adata.obs_names].T.to_numpy()
    diff = np.abs(adata[:, genes].layers["log"] - expect).max()
    assert diff < 1e-9, diff
    # matches the bundled log2 CPM matrix (built with the same maps, rounded to 3 decimals)
    ref = pd.read_csv(GSE / "GSE77314_log2cpm1_symbols_filtered.tsv.gz", sep="\t", index_col=0)
    shared = [g for g in genes if g in ref.index][:500]
    ref_values = ref.loc[shared, adata.obs_names].T.to_numpy()
    assert np.abs(adata[:, shared].layers["log"] - ref_values).max() <= 5.1e-4


# ------------------------------------------------------------------------------ formats


def test_counts_table_is_normalised_by_library_size(tmp_path, capsys, counts):
    table, sheet = counts
    path = tmp_path / "counts.tsv"
    table.rename_axis("gene").to_csv(path, sep="\t")
    adata = run_ok(common(tmp_path / "o.h5ad", "--expression", str(path), "--samples",
                          sheet_file(tmp_path, sheet)), capsys)
    check_log_cpm(adata, table)
    # --values linear keeps the old log2(x + 1)
    adata = run_ok(common(tmp_path / "o.h5ad", "--expression", str(path), "--samples",
                          sheet_file(tmp_path, sheet), "--values", "linear"), capsys)
    expect = np.log2(table.T + 1).loc[adata.obs_names, adata.var_names].to_numpy()
    np.testing.assert_allclose(adata.layers["log"], expect)


def test_small_helpers(tmp_path):
    assert detect_id_type(["ENSG00000000003.12", "ENSG00000000005", "X"]) == "ensembl"
    assert detect_id_type(["1", "2", "A1BG"]) == "entrez"
    assert detect_id_type(["1007_s_at", "TP53", "1"]) == "symbol"
    assert strip_version(["ENSG00000000003.12", "TP53", "ENSMUSG00000000001.4"]) == [
        "ENSG00000000003", "TP53", "ENSMUSG00000000001"]
    assert parse_classes(["early=Stage I,Stage II", "late=Stage III"]) == {
        "early": ["Stage I", "Stage II"], "late": ["Stage III"]}
    assert parse_classes({"a": "x", "b": ["y", "z"]}) == {"a": ["x"], "b": ["y", "z"]}
    with pytest.raises(InputError, match="CLASS=VALUE"):
        parse_classes(["early"])
    assert as_paths("a.sf,b.sf") == [Path("a.sf"), Path("b.sf")] and as_paths(["x"]) == [Path("x")]
    with pytest.raises(InputError, match="file not found"):
        detect_format([tmp_path / "nothing.tsv"])


def test_detect_values():
    assert detect_values(np.array([[0.0, 3.0], [12.0, 7.0]]))[0] == "counts"
    assert detect_values(np.array([[0.5, 3.2], [12.0, 7.0]]))[0] == "log"
    assert detect_values(np.array([[0.5, 3.2], [120.0, 7.0]]))[0] == "linear"
    assert detect_values(np.array([[0.5, 3.2], [12.0, 7.0]]), hint="counts")[0] == "counts"


def test_featurecounts(tmp_path, capsys, counts):
    table, sheet = counts
    path = write_featurecounts(tmp_path, table)
    assert detect_format([path])[0] == "featurecounts"
    adata = run_ok(common(tmp_path / "o.h5ad", "--expression", str(path), "--samples",
                          sheet_file(tmp_path, sheet)), capsys)
    check_log_cpm(adata, table)
    assert adata.uns["prepare"]["format"] == "featurecounts"


@pytest.mark.parametrize("fmt", ["salmon", "kallisto"])
def test_salmon_and_kallisto_per_sample_files(tmp_path, capsys, counts, fmt):
    table, sheet = counts
    folder = write_quant(tmp_path, table, fmt)
    est = table + 0.25
    adata = run_ok(common(tmp_path / "o.h5ad", "--expression", str(folder), "--samples",
                          sheet_file(tmp_path, sheet)), capsys)
    check_log_cpm(adata, est)
    # a list of files works as the directory does
    files = sorted(str(p) for p in folder.glob("*/*"))
    adata2 = run_ok(common(tmp_path / "o2.h5ad", "--expression", *files, "--samples",
                           sheet_file(tmp_path, sheet), "--format", fmt), capsys)
    np.testing.assert_allclose(adata2.layers["log"], adata.layers["log"])


def test_geo_series_matrix_needs_a_probe_map(tmp_path, capsys, counts):
    table, sheet = counts
    path, _, _ = write_series_matrix(tmp_path, table, sheet)
    assert detect_format([path])[0] == "geo_series"
    args = ["prepare", "--expression", str(path), "--out", str(tmp_path / "o.h5ad"), "--label-col",
            "tissue", "--group-col", "patient", "--min-expression", "0"]
    run_err(args, capsys, "probe", "--gene-map")


def test_geo_series_matrix_sheet_and_probes(tmp_path, capsys, counts):
    table, sheet = counts
    path, gene_map, logged = write_series_matrix(tmp_path, table, sheet)
    out = tmp_path / "o.h5ad"
    adata = run_ok(["prepare", "--expression", str(path), "--out", str(out), "--label-col", "tissue",
                    "--group-col", "patient", "--min-expression", "0", "--gene-map", str(gene_map)],
                   capsys)
    assert set(adata.var_names) <= set(table.index) and adata.uns["prepare"]["scale_detected"] == "log"
    assert adata.uns["prepare"]["gene_id_mapping"]["n_mapped"] == N_GENES
    assert adata.obs["label"].value_counts().to_dict() == {"normal": N_PATIENTS, "tumor": N_PATIENTS}
    expect = pd.DataFrame(logged.T, index=[f"GSM{i}" for i in range(len(sheet))], columns=table.index)
    np.testing.assert_allclose(adata.layers["log"], expect.loc[adata.obs_names, adata.var_names])


def test_h5ad_with_labels_in_obs(tmp_path, capsys, counts):
    table, sheet = counts
    path = tmp_path / "in.h5ad"
    obs = sheet.set_index("sample").rename(columns={"label": "condition", "patient": "donor"})
    ad.AnnData(table.T.to_numpy(dtype=float), obs=obs, var=pd.DataFrame(index=table.index)).write_h5ad(path)
    adata = run_ok(["prepare", "--expression", str(path), "--out", str(tmp_path / "o.h5ad"),
                    "--label-col", "condition", "--group-col", "donor", "--min-expression", "0"], capsys)
    check_log_cpm(adata, table)
    assert adata.uns["prepare"]["samples"] == ""
    run_err(["prepare", "--expression", str(path), "--out", str(tmp_path / "o3.h5ad"), "--group-col",
             "donor"], capsys, "no label column 'label'", "'condition'")


def test_wrong_format_is_one_line_error(tmp_path, capsys, counts):
    table, sheet = counts
    plain = tmp_path / "counts.tsv"
    table.rename_axis("gene").to_csv(plain, sep="\t")
    fc = write_featurecounts(tmp_path, table)
    salmon = write_quant(tmp_path, table, "salmon")
    sheet_path = sheet_file(tmp_path, sheet)
    for path, fmt, needle in [
        (plain, "featurecounts", "looks like table"),
        (fc, "table", "looks like featurecounts"),
        (salmon / "S00" / "quant.sf", "table", "looks like salmon"),
        (salmon, "kallisto", "looks like salmon"),
        (plain, "geo_series", "looks like table"),
    ]:
        run_err(common(tmp_path / "o.h5ad", "--expression", str(path), "--samples", sheet_path,
                       "--format", fmt), capsys, "does not look like", needle)
    run_err(common(tmp_path / "o.h5ad", "--expression", str(plain)), capsys, "no sample sheet given")


# ---------------------------------------------------------------------------- gene ids


def test_ensembl_ids_with_versions_are_mapped(tmp_path, capsys, counts):
    table, sheet = counts
    idmap = pd.read_csv(ROOT / "data/idmaps/ensembl_to_symbol_orgHsEgDb_2022-09.tsv", sep="\t", nrows=60)
    idmap = idmap.drop_duplicates("symbol").head(N_GENES - 2)
    ids = [f"{e}.{i % 7 + 1}" for i, e in enumerate(idmap["ensembl_gene_id"])]
    ids += [ids[0].split(".")[0] + ".99", "ENSG99999999999.1"]  # a duplicate symbol and an unknown id
    table = table.set_axis(ids, axis=0)
    path = tmp_path / "counts.tsv"
    table.rename_axis("gene_id").to_csv(path, sep="\t")
    adata = run_ok(common(tmp_path / "o.h5ad", "--expression", str(path), "--samples",
                          sheet_file(tmp_path, sheet), "--gene-ids", "auto"), capsys)
    m = adata.uns["prepare"]["gene_id_mapping"]
    assert (m["id_type"], m["n_mapped"], m["n_unmapped"], m["n_collapsed"]) == ("ensembl", N_GENES - 1, 1, 1)
    assert set(adata.var_names) <= set(idmap["symbol"])
    # library size is the sum over every gene read, the unmapped one included
    expect = log_cpm(table).loc[adata.obs_names, ids[1]].to_numpy()
    np.testing.assert_allclose(adata[:, idmap["symbol"].iloc[1]].layers["log"].ravel(), expect)


# ----------------------------------------------------------------------- clinical labels


def test_labels_from_clinical_table(tmp_path, capsys, counts):
    table, sheet = counts
    path = tmp_path / "counts.tsv"
    table.rename_axis("gene").to_csv(path, sep="\t")
    patients = sorted(sheet["patient"].unique())
    stages = ["Stage I", "Stage II", "Stage III", "Stage IVA", "not reported"]
    clinical = pd.DataFrame({"patient": patients[:-1],  # the last patient has no row
                             "stage": [stages[i % len(stages)] for i in range(len(patients) - 1)]})
    cpath = tmp_path / "clinical.tsv"
    clinical.to_csv(cpath, sep="\t", index=False)
    adata = run_ok(common(tmp_path / "o.h5ad", "--expression", str(path), "--samples",
                          sheet_file(tmp_path, sheet), "--clinical", str(cpath), "--clinical-label-col",
                          "stage", "--clinical-class", "early=Stage I,Stage II", "--clinical-class",
                          "late=Stage III,Stage IIIA,Stage IV,Stage IVA", "--clinical-keep-label", "tumor",
                          "--positive-label", "late", "--min-samples-per-class", "2"), capsys)
    info = adata.uns["prepare"]["clinical"]
    stage_of = dict(zip(clinical["patient"], clinical["stage"], strict=True))
    tumours = sheet[(sheet["label"] == "tumor") & sheet["patient"].map(stage_of).isin(stages[:4])]
    assert adata.n_obs == len(tumours)
    assert info["n_excluded_other_label"] == N_PATIENTS and info["n_excluded_missing_patient"] == 1
    want = {p: ("early" if stage_of[p] in stages[:2] else "late") for p in tumours["patient"]}
    assert all(adata.obs["label"][s] == want[g] for s, g in zip(adata.obs_names, adata.obs["group"], strict=True))


# ----------------------------------------------------------------------- own communities


def test_own_communities_from_file(tmp_path, capsys, counts):
    table, sheet = counts
    path = tmp_path / "counts.tsv"
    table.rename_axis("gene").to_csv(path, sep="\t")
    h5ad = tmp_path / "prepared.h5ad"
    run_ok(common(h5ad, "--expression", str(path), "--samples", sheet_file(tmp_path, sheet)), capsys)
    own = pd.DataFrame({"gene": [f"G{i:02d}" for i in range(30)] + ["NOT_A_GENE"],
                        "community": ["turquoise"] * 12 + ["blue"] * 15 + ["grey"] * 3 + ["blue"]})
    own_path = tmp_path / "modules.tsv"
    own.to_csv(own_path, sep="\t", index=False)
    out = tmp_path / "communities"
    rc = main(["communities", "--expression", str(h5ad), "--out-dir", str(out), "--source", "file",
               "--file", str(own_path), "--min-size", "5", "--min-accuracy", "0", "--folds", "3"])
    assert rc == 0, capsys.readouterr().err
    comm = pd.read_csv(out / "communities.tsv", sep="\t")
    assert comm.groupby("path")["gene"].count().to_dict() == {"blue": 15, "turquoise": 12}  # grey < min-size
    assert (out / "selected.txt").read_text().split() == ["c01", "c02"]
    base = pd.read_csv(out / "baseline.tsv", sep="\t")
    assert set(base["community"]) == {"c01", "c02"}
    # the chain order is the optimal leaf order, as for detected communities
    from mpsomics.omics import coexpression
    from mpsomics.omics.communities import order_genes

    prepared = ad.read_h5ad(h5ad)
    blue = own["gene"][own["community"] == "blue"].iloc[:15].tolist()
    expect = order_genes(coexpression.gene_correlation(prepared, blue, "spearman"))
    assert (out / "genes" / "c01.txt").read_text().split() == expect
    # no --file: a one-line error
    rc = main(["communities", "--expression", str(h5ad), "--out-dir", str(tmp_path / "x"), "--source", "file"])
    assert rc == 2 and "--source file needs --file" in capsys.readouterr().err


# ------------------------------------------------------------------- inputs given as pipes


def fifo_of(tmp_path: Path, source: Path) -> Path:
    """A named pipe fed with ``source``'s bytes by a thread (what ``<(cat file)`` gives)."""
    import os
    import threading

    fifo = tmp_path / f"pipe_{source.name}"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(source.read_bytes())

    threading.Thread(target=feed, daemon=True).start()
    return fifo


@pytest.mark.parametrize("fmt", ["table", "featurecounts", "geo_series"])
def test_every_text_format_reads_from_a_pipe(tmp_path, capsys, counts, fmt):
    """Detection and reading share one read: a pipe (read once) gives the same AnnData as the file."""
    table, sheet = counts
    if fmt == "table":
        path = tmp_path / "expr.tsv"
        table.rename_axis("gene").to_csv(path, sep="\t")
        extra = ["--samples", sheet_file(tmp_path, sheet)]
    elif fmt == "featurecounts":
        path = write_featurecounts(tmp_path, table)
        extra = ["--samples", sheet_file(tmp_path, sheet)]
    else:  # the sample sheet comes from the same (piped) matrix: read twice from one pipe
        path, gene_map, _ = write_series_matrix(tmp_path, table, sheet)
        extra = ["--label-col", "tissue", "--group-col", "patient", "--gene-map", str(gene_map),
                 "--sample-col", "sample"]
    base = ["prepare", "--min-expression", "0", "--sample-col", "sample", *extra]
    from_file = run_ok([*base, "--expression", str(path), "--out", str(tmp_path / "f.h5ad")], capsys)
    fifo = fifo_of(tmp_path, Path(path))
    from_pipe = run_ok([*base, "--expression", str(fifo), "--out", str(tmp_path / "p.h5ad")], capsys)
    assert from_pipe.uns["prepare"].get("format", "table") == fmt
    assert from_file.uns["prepare"].get("format", "table") == fmt
    np.testing.assert_array_equal(from_pipe.X, from_file.X)
    assert list(from_pipe.obs_names) == list(from_file.obs_names)


def test_latin1_series_matrix_is_read_with_a_warning_not_mangled(tmp_path, counts, caplog):
    """A GEO matrix with a Latin-1 title: decoded as Latin-1 (no U+FFFD in the sheet), with a warning."""
    import gzip

    from mpsomics.omics.prepare.formats import read_geo_series

    table, sheet = counts
    path, _, _ = write_series_matrix(tmp_path, table, sheet)
    text = gzip.decompress(Path(path).read_bytes()).decode("utf-8")
    text = text.replace('!Sample_title\t"S00"', '!Sample_title\t"f\u00e9tal"', 1)
    assert "f\u00e9tal" in text
    Path(path).write_bytes(gzip.compress(text.encode("latin-1")))
    with caplog.at_level("WARNING"):
        _, sheet_read = read_geo_series(Path(path))
    assert sheet_read["title"].iloc[0] == "f\u00e9tal"
    assert "latin-1" in caplog.text.lower()
