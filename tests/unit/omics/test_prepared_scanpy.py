"""The prepared AnnData follows scanpy's conventions: ``uns['log1p']['base'] == 2`` for the
log2(x + 1) layer, so ``sc.tl.rank_genes_groups`` reports true log2 fold changes."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from mpsomics.cli import main

sc = pytest.importorskip("scanpy")


def test_rank_genes_groups_log_fold_change_of_a_planted_gene(tmp_path, synthetic_expression):
    data = synthetic_expression(n_patients=40, n_genes=20, n_informative=0)
    expr = data.expr.copy()
    tumor = (data.sheet.set_index("sample").loc[expr.columns, "label"] == "tumor").to_numpy()
    # planted gene: log2(x + 1) = 7 in tumor, 5 in normal, constant within a class
    expr.loc["G000"] = np.where(tumor, 7.0, 5.0)
    data.write(expr)
    out = tmp_path / "expression.h5ad"
    assert main(data.cli_args(out)) == 0
    adata = ad.read_h5ad(out)
    assert adata.uns["log1p"] == {"base": 2}
    # scanpy: mean of the linear values per group, then log2 of their ratio
    true_lfc = np.log2((2.0**7 - 1) / (2.0**5 - 1))
    work = adata.copy()
    sc.tl.rank_genes_groups(work, "label", groups=["tumor"], reference="normal", method="t-test", layer="log")
    res = sc.get.rank_genes_groups_df(work, group="tumor").set_index("names")
    assert res.loc["G000", "logfoldchanges"] == pytest.approx(true_lfc, abs=1e-4)
    # without the base scanpy would read the layer as natural log1p and be off
    del work.uns["log1p"]
    sc.tl.rank_genes_groups(work, "label", groups=["tumor"], reference="normal", method="t-test", layer="log")
    wrong = sc.get.rank_genes_groups_df(work, group="tumor").set_index("names")
    assert abs(wrong.loc["G000", "logfoldchanges"] - true_lfc) > 0.5
