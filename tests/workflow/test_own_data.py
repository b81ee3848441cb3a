"""Issue 14 end to end: featureCounts counts + own communities through the whole DAG.

The `.test/` data (log2 FPKM) are turned into integer counts in featureCounts format,
two gene communities are given in a file (`communities.source: file`), and
`snakemake --cores 2` must run every stage up to the report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.formats import write_quant, write_series_matrix

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_featurecounts_and_own_communities_run_to_the_report(tmp_path):
    work = tmp_path / "own"
    shutil.copytree(ROOT / ".test", work, ignore=shutil.ignore_patterns("results", "logs", ".snakemake"))
    expr = pd.read_csv(work / "data/expression.tsv.gz", sep="\t", index_col=0)
    counts = np.round((2.0 ** expr - 1) * 20).astype(int)
    meta = pd.DataFrame({"Geneid": counts.index, "Chr": "chr1", "Start": 1, "End": 2, "Strand": "+",
                         "Length": 1})
    table = pd.concat([meta, counts.set_axis([f"bams/{c}.bam" for c in counts.columns], axis=1)
                       .reset_index(drop=True)], axis=1)
    with open(work / "data/counts.txt", "w") as fh:
        fh.write("# Program:featureCounts v2.0.3\n")
        table.to_csv(fh, sep="\t", index=False)
    top = expr.var(axis=1).sort_values(ascending=False).index[:16].tolist()
    pd.DataFrame({"gene": top, "community": ["module_a", "module_b"] * 8}).to_csv(
        work / "data/modules.tsv", sep="\t", index=False)
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["expression"] = "data/counts.txt"
    cfg["prepare"].update(format="featurecounts")
    cfg["communities"].update(source="file", file="data/modules.tsv", min_size=4)
    cfg["communities"]["select"]["method"] = "threshold"
    cfg["communities"]["select"]["min_accuracy"] = 0.0
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "config.yaml"), "--cores", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-6000:]
    adata = ad.read_h5ad(work / "results/prepared/expression.h5ad")
    assert adata.uns["prepare"]["format"] == "featurecounts"
    assert adata.uns["prepare"]["scale_detected"] == "counts"
    comm = pd.read_csv(work / "results/communities/communities.tsv", sep="\t")
    assert set(comm["path"]) == {"module_a", "module_b"}
    assert sorted((work / "results/communities/selected.txt").read_text().split()) == ["c01", "c02"]
    assert (work / "results/report/index.html").stat().st_size > 0


def _counts_and_sheet(work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    expr = pd.read_csv(work / "data/expression.tsv.gz", sep="\t", index_col=0)
    counts = np.round((2.0 ** expr - 1) * 20).astype(int)
    sheet = pd.read_csv(work / "data/samples.tsv", sep="\t")
    sheet = sheet.rename(columns={"aliquot_barcode": "sample"})[["sample", "label", "patient"]]
    return counts, sheet.set_index("sample").loc[counts.columns].rename_axis("sample").reset_index()


def _write_input(fmt: str, work: Path, counts: pd.DataFrame, sheet: pd.DataFrame) -> dict:
    """Write the .test data in format ``fmt``; return the config changes that read it."""
    data = work / "data"
    if fmt in ("salmon", "kallisto"):
        folder = write_quant(data, counts, fmt)
        return {"expression": str(folder.relative_to(work)), "prepare": {"format": fmt}}
    if fmt == "geo_series":
        path, gene_map, _ = write_series_matrix(data, counts, sheet)
        return {"expression": str(path.relative_to(work)), "samples": None,
                "prepare": {"format": fmt, "label_col": "tissue", "group_col": "patient",
                            "gene_map": str(gene_map.relative_to(work))}}
    # h5ad with the labels already in .obs
    path = data / "input.h5ad"
    obs = sheet.set_index("sample")
    ad.AnnData(counts.T.to_numpy(dtype=float), obs=obs, var=pd.DataFrame(index=counts.index)).write_h5ad(path)
    return {"expression": "data/input.h5ad", "samples": None,
            "prepare": {"format": "h5ad", "group_col": "patient"}}


@pytest.mark.parametrize("fmt", ["salmon", "kallisto", "geo_series", "h5ad"])
def test_every_input_format_runs_to_the_report(tmp_path, fmt):
    work = tmp_path / fmt
    shutil.copytree(ROOT / ".test", work, ignore=shutil.ignore_patterns("results", "logs", ".snakemake"))
    counts, sheet = _counts_and_sheet(work)
    changes = _write_input(fmt, work, counts, sheet)
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["prepare"].update(changes.pop("prepare"))
    cfg.update(changes)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "config.yaml"), "--cores", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-6000:]
    adata = ad.read_h5ad(work / "results/prepared/expression.h5ad")
    assert adata.uns["prepare"]["format"] == fmt
    assert adata.n_obs == len(sheet)
    assert set(adata.obs["label"]) == {"normal", "tumor"}
    selected = (work / "results/communities/selected.txt").read_text().split()
    assert selected, "no community selected"
    html = (work / "results/report/index.html").read_text()
    assert all(c in html for c in selected)
